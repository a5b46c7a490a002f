#!/usr/bin/env python3
"""A receiver for netready's alert webhooks that checks what it is sent, standard library only.

    NETREADY_WEBHOOK_SECRET=whsec_... python3 webhook-receiver.py --port 9000

For each POST it checks, as the plane documents it (the readinessChanged webhook):
  - X-Netready-Signature is "v1=" and the hex HMAC-SHA256, keyed with the channel's secret, of
    X-Netready-Timestamp, ".", and the raw body (compared in constant time);
  - the timestamp is within five minutes of now (a replayed old request is refused);
  - Idempotency-Key was not seen before (a notification may arrive more than once: at least once).
It answers 401 to a bad signature or an old timestamp, 204 otherwise, and prints one JSON line per
notification it accepts. netready's test suite runs it against the real plane
(crates/netready/tests/alerts.rs).
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

MAX_AGE_S = 300


def make_handler(secret: bytes):
    seen = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            timestamp = self.headers.get("X-Netready-Timestamp", "")
            signature = self.headers.get("X-Netready-Signature", "")
            expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_AGE_S
            if not (fresh and hmac.compare_digest(signature, expected)):
                self.send_response(401)
                self.end_headers()
                print(json.dumps({"refused": "bad signature or old timestamp"}), flush=True)
                return
            key = self.headers.get("Idempotency-Key", "")
            if key not in seen:
                seen.add(key)
                event = json.loads(body)
                print(json.dumps({"id": key, "kind": event.get("kind"), "event": event}), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    secret = os.environ.get("NETREADY_WEBHOOK_SECRET")
    if not secret:
        sys.exit("set NETREADY_WEBHOOK_SECRET to the channel's secret (netready plane alert add prints it once)")
    server = http.server.HTTPServer((args.host, args.port), make_handler(secret.encode()))
    print(json.dumps({"listening": f"{args.host}:{server.server_port}"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
