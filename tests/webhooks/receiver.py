"""A webhook receiver for orderly's tests: a real HTTP server on loopback
that verifies each delivery's signature with the Standard Webhooks
authors' own Python library (code orderly does not share) and appends one
JSON line per request to a file:

  {"webhook_id", "type", "verified", "error", "status", "at", "timestamp"}

It answers --status (200 by default), after --delay-ms, or 401 when the
signature does not verify. It prints "listening PORT" once it listens
(port 0 picks a free one). Stop it with a signal.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()

    verifier = Webhook(args.secret)
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (the library's name)
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            error = None
            try:
                verifier.verify(body, headers)
                verified = True
            except WebhookVerificationError as e:
                verified, error = False, str(e)
            try:
                kind = json.loads(body).get("type")
            except ValueError:
                kind = None
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000)
            status = args.status if verified else 401
            line = {
                "webhook_id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "type": kind,
                "verified": verified,
                "error": error,
                "status": status,
                "at": time.time(),
            }
            with lock:
                log.write(json.dumps(line) + "\n")
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
