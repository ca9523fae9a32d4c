#!/usr/bin/python3
"""A token service for docker-registry's token auth, for the registry tests only.

usage: token_server.py PORT_FILE KEY_PEM CERT_PEM ISSUER USER:PASSWORD

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and answers
GET /token?service=S&scope=repository:NAME:ACTIONS with a JWT (RS256, the certificate in x5c)
granting the requested actions to USER when the request carries USER:PASSWORD as basic auth,
and 401 otherwise. Exits when its parent (the test) goes away.
"""
import base64
import http.server
import json
import sys
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import helper_server


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    port_file, key_pem, cert_pem, issuer, creds = sys.argv[1:6]
    key = serialization.load_pem_private_key(open(key_pem, "rb").read(), password=None)
    cert = x509.load_pem_x509_certificate(open(cert_pem, "rb").read())
    der = cert.public_bytes(serialization.Encoding.DER)
    user = creds.split(":", 1)[0]
    want_auth = "Basic " + base64.b64encode(creds.encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            if url.path != "/token" or self.headers.get("Authorization") != want_auth:
                self.send_response(401)
                self.end_headers()
                return
            access = []
            for scope in q.get("scope", []):
                parts = scope.split(":")
                if len(parts) == 3:
                    access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
            now = int(time.time())
            header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": issuer, "sub": user, "aud": q.get("service", [""])[0], "exp": now + 300,
                      "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
            signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
            body = json.dumps({"token": signing + "." + b64url(sig), "expires_in": 300}).encode()
            helper_server.reply(self, 200, body, "application/json")

    helper_server.serve(Handler, port_file)


if __name__ == "__main__":
    main()
