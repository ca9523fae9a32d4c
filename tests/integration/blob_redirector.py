#!/usr/bin/python3
"""A registry front for the registry tests: manifests are proxied from TARGET, blobs answer
307 with a Location on TARGET (as registries backed by object storage do).

usage: blob_redirector.py PORT_FILE TARGET_BASE_URL
Listens on 127.0.0.1 (free port written to PORT_FILE); exits when its parent goes away.
"""
import http.server
import sys
import urllib.error
import urllib.request

import helper_server


def main():
    port_file, target = sys.argv[1], sys.argv[2].rstrip("/")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if "/blobs/" in self.path:
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            req = urllib.request.Request(target + self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body, ctype, code = r.read(), r.headers.get("Content-Type", ""), r.status
            except urllib.error.HTTPError as e:
                body, ctype, code = e.read(), e.headers.get("Content-Type", ""), e.code
            helper_server.reply(self, code, body, ctype)

    helper_server.serve(Handler, port_file)


if __name__ == "__main__":
    main()
