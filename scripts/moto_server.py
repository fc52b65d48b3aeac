"""Run moto (local AWS) on a free loopback port for onecount's tests and local stack.

Why not plain `moto_server`:
  * it needs a port chosen in advance; this binds port 0 and writes the port it got,
    so parallel runs never collide;
  * real DynamoDB applies every request atomically, but moto's in-memory backends do not
    lock, so concurrent conditional writes could interleave inside moto and hide (or
    fake) races. Requests are applied one at a time here, as DynamoDB's per-item
    serialisation would; connections are still accepted concurrently.

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


def main() -> None:
    port_file = sys.argv[1]
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
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
