"""Shared by the registry tests' helper servers (token_server.py, blob_redirector.py)."""
import http.server
import os
import threading
import time


def serve(handler_class, port_file):
    """Serves `handler_class` on 127.0.0.1 at a free port, written to `port_file` (atomically)
    once listening; exits the process when its parent (the test) goes away."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    parent = os.getppid()

    def watchdog():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    srv.serve_forever()


def reply(handler, code, body, content_type):
    """Sends a whole response with its length."""
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
