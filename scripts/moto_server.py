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

Usage: python moto_server.py PORT_FILE
"""

import os
import signal
import sys
import threading

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


def main() -> None:
    patch_transactions()
    port_file = sys.argv[1]
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        # Only DynamoDB needs it; SQS long polls must not hold everyone else up.
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return app(environ, start_response)
        with lock:
            # Consume the whole response inside the lock.
            return list(app(environ, start_response))

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
