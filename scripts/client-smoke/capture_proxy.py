"""A recording proxy: forwards every request to the relay and appends it, as sent, to a JSON
lines file in the format of tests/fixtures/clients/ (headers as sent, body decoded, the status
the relay answered). Point the smoke scripts at it to refresh those captures:

    python3 capture_proxy.py 8788 http://127.0.0.1:8787 captured.jsonl &
    RELAY=http://127.0.0.1:8788 node node_clients.mjs

Requests to /metrics are forwarded but not recorded. Standard library only.
"""

import gzip
import http.client
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, OUT = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), sys.argv[3]
HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "date", "content-length"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        body = self.read_body()
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                upstream.putheader(name, value)
        upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body)
        answer = upstream.getresponse()
        answer_body = answer.read()

        if self.path != "/metrics":
            decoded = body
            if self.headers.get("content-encoding", "").lower() == "gzip":
                decoded = gzip.decompress(body)
            record = {
                "client": self.headers.get("user-agent", ""),
                "method": self.command,
                "path": self.path,
                "headers": list(self.headers.items()),
                "body": decoded.decode("utf-8"),
                "status": answer.status,
            }
            with open(OUT, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

        self.send_response_only(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer_body)))
        self.end_headers()
        self.wfile.write(answer_body)

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return body
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_OPTIONS = forward

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
