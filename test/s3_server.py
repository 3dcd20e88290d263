"""moto's S3 server on 127.0.0.1 with S3's atomic conditional writes, for the tests and benches.

    s3-server -H 127.0.0.1 -p PORT      (test/s3-server runs this file with the tools venv's python)

moto checks a PUT's `If-None-Match: *` (or `If-Match`) and then writes, as two steps, on a thread per
request (moto/s3/responses.py, moto 5.2.1): two concurrent creates of one key can both succeed, the
second overwriting the first. Real S3 refuses the second (412), and the store takes its log entry ids
by that guarantee, so under moto alone two racing appends could share an id and one batch be lost.
This server is moto's own WSGI application with every request that changes something (any method but
GET and HEAD) run one at a time; reads stay concurrent. Arguments as moto_server's -H and -p.
"""

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

READS = frozenset({"GET", "HEAD"})


def atomic_writes(app):
    """`app`, with the requests that are not reads serialized by one lock."""
    lock = threading.Lock()

    def serve(environ, start_response):
        if environ.get("REQUEST_METHOD") in READS:
            return app(environ, start_response)
        with lock:
            # The whole answer is made under the lock: moto acts while it builds it.
            return list(app(environ, start_response))

    return serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, atomic_writes(app), threaded=True)


if __name__ == "__main__":
    main()
