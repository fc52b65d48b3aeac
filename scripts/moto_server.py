"""Run moto (local AWS) on a free loopback port for onecount's tests and local stack.

Why not plain `moto_server`:
  * it needs a port chosen in advance; this binds port 0 and writes the port it got,
    so parallel runs never collide;
  * real DynamoDB applies every request atomically, but moto's in-memory backends do not
    lock, so concurrent conditional writes could interleave inside moto and hide (or
    fake) races. DynamoDB requests are applied one at a time here, as DynamoDB's per-item
    serialisation would; other services (SQS long polls) and connections stay concurrent.
  * moto rolls a failed TransactWriteItems back by deep-copying every table it touches
    before each transaction, so each one costs time proportional to the table size
    (a few thousand items made a sale take ~100 ms). The patch below snapshots only the
    items the transaction names and restores exactly those on failure: the same
    all-or-nothing result, in time proportional to the transaction.
  * likewise a Query on the table's own key sorts the whole table to find one
    partition; here it looks at that partition only (same items, same order).

ONECOUNT_MOTO_STATS=PATH writes per-operation request counts, time waiting for the
DynamoDB lock and time served to PATH.<pid> every 2 s: what loads moto in a benchmark.

Usage: python moto_server.py PORT_FILE
"""

import json
import os
import signal
import sys
import threading
import time

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def patch_transactions() -> None:
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesAreNotCopied:
        """Stands in for the `copy` module inside moto.dynamodb.models during a
        transaction: tables are 'copied' as themselves; we undo item by item instead."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(x, memo=None):
            return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        undo = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            attrs = op.get("Item") or op.get("Key") or {}
            if table is None or table.hash_key_attr not in attrs:
                continue
            h = DynamoType(attrs[table.hash_key_attr])
            r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            if table.range_key_attr and table.range_key_attr not in attrs:
                continue
            undo.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
        models.copy = TablesAreNotCopied()
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, old in reversed(undo):
                if r is None:
                    table.items.pop(h, None)
                    if old is not None:
                        table.items[h] = old
                else:
                    table.items[h].pop(r, None)
                    if old is not None:
                        table.items[h][r] = old
            raise
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


class Stats:
    """Per-operation request counts, time waiting for the DynamoDB lock and time served,
    written as JSON to `path` every 2 s (ONECOUNT_MOTO_STATS; off when unset). For
    finding what loads moto in a benchmark, not for tests."""

    def __init__(self, path):
        self.on = bool(path)
        self.path = f"{path}.{os.getpid()}" if path else path
        self.ops = {}
        self.mu = threading.Lock()
        if self.on:
            threading.Thread(target=self._dump, daemon=True).start()

    def add(self, op, waited, served):
        if not self.on:
            return
        with self.mu:
            c = self.ops.setdefault(op or "other", [0, 0.0, 0.0])
            c[0] += 1
            c[1] += waited
            c[2] += served

    @staticmethod
    def request_key(target, environ):
        """The operation and the kind of item it names (the key's prefix)."""
        import io

        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            q = json.loads(body)
        except ValueError:
            return target

        def kind(item):
            v = next(iter((item or {}).get("pk", {}).values()), "")
            w = next(iter((item or {}).get("sk", {}).values()), "")
            return f"{v.split('#')[0]}#/{w.split('#')[0]}"

        op = target.split(".")[-1]
        if op == "Query":
            vals = q.get("ExpressionAttributeValues", {})
            first = next(iter(vals.values()), {}) if vals else {}
            return f"Query {q.get('IndexName', 'table')} {next(iter(first.values()), '')}"[:60]
        if op in ("GetItem", "UpdateItem", "DeleteItem"):
            return f"{op} {kind(q.get('Key'))}"
        if op == "PutItem":
            return f"{op} {kind(q.get('Item'))}"
        if op == "BatchGetItem":
            keys = [k for t in q.get("RequestItems", {}).values() for k in t.get("Keys", [])]
            return f"{op} {sorted({kind(k) for k in keys})}"[:70]
        if op == "TransactWriteItems":
            kinds = []
            for e in q.get("TransactItems", []):
                o = next(iter(e.values()))
                kinds.append(kind(o.get("Item") or o.get("Key")))
            return f"{op} {sorted(set(kinds))}"[:70]
        if op in ("SendMessage", "ReceiveMessage", "DeleteMessageBatch", "SendMessageBatch"):
            return f"{op} {q.get('QueueUrl', '').rsplit('/', 1)[-1][-14:]}"
        return target

    def _dump(self):
        while True:
            time.sleep(2)
            with self.mu:
                snap = {k: {"n": v[0], "wait_s": round(v[1], 3), "served_s": round(v[2], 3)}
                        for k, v in self.ops.items()}
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(snap, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


def patch_partition_queries() -> None:
    """moto answers a Query on the table's own key by sorting every item of the table and
    keeping one partition's: a stock item's listings, looked up on every sale, cost
    ~45 ms once the table held a few thousand timeline entries. Here such a query looks
    at its partition only: the same items in the same order (the query sorts what it
    finds), at a cost proportional to the partition, as on DynamoDB. Index queries are
    left as they are."""
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or not self.range_key_attr or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: sorted(partition, key=lambda x: (x.hash_key, x.range_key))
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def main() -> None:
    patch_transactions()
    patch_partition_queries()
    port_file = sys.argv[1]
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    stats = Stats(os.environ.get("ONECOUNT_MOTO_STATS"))

    def serialised(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        t0 = time.perf_counter()
        # Only DynamoDB needs it; SQS long polls must not hold everyone else up.
        if not target.startswith("DynamoDB"):
            out = app(environ, start_response)
            if stats.on:
                out = list(out)
                stats.add(target, 0.0, time.perf_counter() - t0)
            return out
        if stats.on:
            target = stats.request_key(target, environ)
        with lock:
            t1 = time.perf_counter()
            # Consume the whole response inside the lock.
            out = list(app(environ, start_response))
        stats.add(target, t1 - t0, time.perf_counter() - t1)
        return out

    server = make_server(
        "127.0.0.1", 0, serialised, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_port
    # moto builds some URLs (SQS queue URLs) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
