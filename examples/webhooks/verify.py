"""Verify the signatures bankd puts on a webhook delivery. Standard library only.

Receiver: BANKD_WEBHOOK_SECRET=<the app's secret_key> python3 verify.py 8000
"""
import base64, hashlib, hmac, os, sys, time

TOLERANCE = 5 * 60  # seconds a webhook-timestamp may differ from now


def _sign(key: bytes, msg: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())


def verify(secret_key: str, path: str, headers: dict, body: bytes) -> bool:
    """True if every signature present is valid, and at least one is. `path` is the path of
    the webhook URL (no host, no query); `body` is the raw request body, before any parsing."""
    h = {k.lower(): v for k, v in headers.items()}
    if "bi-signature" not in h and "webhook-signature" not in h:
        return False
    if "bi-signature" in h:  # Powens: key = secret_key's text; msg = POST.path.date.body
        if "bi-signature-date" not in h:
            return False
        msg = b".".join([b"POST", path.encode(), h["bi-signature-date"].encode(), body])
        if not hmac.compare_digest(_sign(secret_key.encode(), msg), h["bi-signature"].encode()):
            return False
    if "webhook-signature" in h:  # Standard Webhooks: key = base64-decoded secret_key
        wid, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        if not wid or not (ts.isascii() and ts.isdigit()) or abs(time.time() - int(ts)) > TOLERANCE:
            return False
        expected = b"v1," + _sign(base64.b64decode(secret_key), f"{wid}.{ts}.".encode() + body)
        if not any(hmac.compare_digest(expected, s.encode()) for s in h["webhook-signature"].split()):
            return False
    return True


if __name__ == "__main__":
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import urlsplit

    SECRET, seen = os.environ["BANKD_WEBHOOK_SECRET"], set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path, wid = urlsplit(self.path).path, self.headers.get("webhook-id")
            ok = verify(SECRET, path, dict(self.headers), body)
            new = ok and wid not in seen  # at-least-once delivery: handle each webhook-id once
            if new and wid:
                seen.add(wid)  # ... and handle json.loads(body) here
            print(path, wid, "accepted" if new else "duplicate" if ok else "rejected", flush=True)
            self.send_response(200 if ok else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer(("", int(sys.argv[1])), Receiver).serve_forever()
