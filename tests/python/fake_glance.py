"""A fake Glance (image API v2) on 127.0.0.1 for the real python3-glanceclient: what Zun's
commit uses (create, show, JSON-patch update, upload, delete) and the schema the client reads
first. Images live in a dict; `fail_upload` / `fail_delete` make those calls answer 500.
"""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = {
    'name': 'image',
    'properties': {
        'id': {'type': 'string'},
        'name': {'type': ['null', 'string']},
        'status': {'type': 'string'},
        'visibility': {'type': 'string'},
        'container_format': {'type': ['null', 'string']},
        'disk_format': {'type': ['null', 'string']},
        'tags': {'type': 'array', 'items': {'type': 'string'}},
        'size': {'type': ['null', 'integer']},
        'owner': {'type': ['null', 'string']},
        'protected': {'type': 'boolean'},
        'min_disk': {'type': 'integer'},
        'min_ram': {'type': 'integer'},
        'created_at': {'type': 'string'},
        'updated_at': {'type': 'string'},
        'self': {'type': 'string'},
        'file': {'type': 'string'},
        'schema': {'type': 'string'},
    },
    'additionalProperties': {'type': 'string'},
    'links': [{'href': '{self}', 'rel': 'self'}, {'href': '{file}', 'rel': 'enclosure'},
              {'href': '{schema}', 'rel': 'describedby'}],
}


class FakeGlance(object):
    def __init__(self):
        self.images = {}       # id -> image dict
        self.data = {}         # id -> uploaded bytes
        self.calls = []        # (method, path)
        self.fail_upload = False
        self.fail_delete = False
        self.lock = threading.Lock()
        glance = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _send(self, code, body=None, ctype='application/json'):
                raw = b'' if body is None else json.dumps(body).encode()
                self.send_response(code)
                if raw:  # as Glance: a 204 has no body and no type
                    self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self):
                n = int(self.headers.get('Content-Length') or 0)
                if n:
                    return self.rfile.read(n)
                if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
                    out = b''
                    while True:
                        size = int(self.rfile.readline().strip() or b'0', 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return b''

            def _route(self, method):
                path = self.path.split('?')[0].rstrip('/')
                body = self._body()
                with glance.lock:
                    glance.calls.append((method, path))
                    return glance.handle(method, path, body)

            def do_GET(self):
                self._send(*self._route('GET'))

            def do_POST(self):
                self._send(*self._route('POST'))

            def do_PATCH(self):
                self._send(*self._route('PATCH'))

            def do_PUT(self):
                self._send(*self._route('PUT'))

            def do_DELETE(self):
                self._send(*self._route('DELETE'))

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def client(self):
        """The real glanceclient, talking to this server."""
        import glanceclient
        return glanceclient.Client('2', endpoint=self.url, token='fake-token')

    def handle(self, method, path, body):
        parts = path.split('/')[1:]  # v2, images, <id>, file
        if parts[:2] == ['v2', 'schemas'] and parts[2:] == ['image']:
            return 200, SCHEMA
        if parts[:2] != ['v2', 'images']:
            return 404, {'message': 'no route %s' % path}
        if method == 'POST' and len(parts) == 2:
            req = json.loads(body or b'{}')
            img_id = str(uuid.uuid4())
            img = {'id': img_id, 'name': req.get('name'), 'status': 'queued',
                   'visibility': 'shared', 'container_format': None, 'disk_format': None,
                   'tags': [], 'size': None, 'protected': False, 'min_disk': 0, 'min_ram': 0,
                   'created_at': '2026-01-01T00:00:00Z', 'updated_at': '2026-01-01T00:00:00Z',
                   'self': '/v2/images/' + img_id, 'file': '/v2/images/%s/file' % img_id,
                   'schema': '/v2/schemas/image'}
            self.images[img_id] = img
            return 201, img
        img = self.images.get(parts[2]) if len(parts) > 2 else None
        if img is None:
            return 404, {'message': 'image not found'}
        if method == 'GET' and len(parts) == 3:
            return 200, img
        if method == 'PATCH' and len(parts) == 3:
            for op in json.loads(body or b'[]'):
                key = op['path'].lstrip('/')
                if op['op'] in ('add', 'replace'):
                    img[key] = op['value']
                elif op['op'] == 'remove':
                    img.pop(key, None)
            return 200, img
        if method == 'PUT' and parts[3:] == ['file']:
            if self.fail_upload:
                return 500, {'message': 'the store is full'}
            self.data[img['id']] = body
            img.update(status='active', size=len(body))
            return 204, None
        if method == 'DELETE' and len(parts) == 3:
            if self.fail_delete:
                return 500, {'message': 'glance is down'}
            self.images.pop(img['id'])
            self.data.pop(img['id'], None)
            return 204, None
        return 405, {'message': 'not allowed'}
