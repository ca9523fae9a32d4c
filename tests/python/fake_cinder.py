"""Cinder and os-brick replaced at their remote edge, for Zun's real volume code.

* `FakeCinder`: the block storage API v3 on 127.0.0.1 for the real python3-cinderclient, the
  calls Zun's CinderAPI makes (show, find by name, create, delete and the volume actions
  os-reserve/os-unreserve/os-initialize_connection/os-terminate_connection/os-attach/
  os-begin_detaching/os-roll_detaching/os-detach), with Cinder's status changes. Every action
  is recorded in `actions` as (action, volume id, body).
* `FakeBrick`: what os-brick's connector does on the host, with loop devices: each volume's
  "storage" is a sparse file, `connect_volume` attaches it (`losetup -f --show`), again the same
  device while connected (as an iSCSI session), or a new one after `move_next_connect()`;
  `disconnect_volume` detaches it. Each call is recorded in `calls` with the zunvmd containers
  that had the device as a block mount at that moment.
"""
import json
import os
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

BACKING_BYTES = 64 << 20  # each volume's loop file, whatever its size in Cinder


class FakeCinder(object):
    def __init__(self, tmpdir):
        self.tmpdir = str(tmpdir)
        self.volumes = {}   # id -> Cinder's volume dict (plus 'backing', 'access_mode')
        self.actions = []   # (action, volume id, body)
        self.lock = threading.RLock()
        cinder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _send(self, code, body=None):
                raw = b'' if body is None else json.dumps(body).encode()
                self.send_response(code)
                if raw:
                    self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _route(self, method):
                n = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(n) or b'null')
                path, _, query = self.path.partition('?')
                parts = path.strip('/').split('/')[2:]  # after v3/<project>
                with cinder.lock:
                    code, out = cinder.handle(method, parts, body, query)
                self._send(code, out)

            def do_GET(self):
                self._route('GET')

            def do_POST(self):
                self._route('POST')

            def do_DELETE(self):
                self._route('DELETE')

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/v3/p' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def client(self):
        """The real cinderclient, as zun.common.clients.OpenStackClients.cinder() makes it."""
        from cinderclient import client as cinderclient
        from keystoneauth1 import noauth
        from keystoneauth1 import session
        return cinderclient.Client('3', session=session.Session(
            auth=noauth.NoAuth(endpoint=self.url)))

    def add_volume(self, size=1, name=None, access_mode='rw'):
        vid = str(uuid.uuid4())
        backing = os.path.join(self.tmpdir, 'cinder-%s.img' % vid)
        with open(backing, 'wb') as f:
            f.truncate(BACKING_BYTES)
        with self.lock:
            self.volumes[vid] = {'id': vid, 'name': name, 'size': size, 'status': 'available',
                                 'attachments': [], 'multiattach': False,
                                 'backing': backing, 'access_mode': access_mode}
        return vid

    def calls_for(self, vid):
        return [a for a, v, _ in self.actions if v == vid]

    @staticmethod
    def _public(vol):
        return {k: v for k, v in vol.items() if k not in ('backing', 'access_mode')}

    def handle(self, method, parts, body, query):
        if parts == ['volumes'] and method == 'POST':
            vid = self.add_volume(int(body['volume']['size']))
            return 202, {'volume': self._public(self.volumes[vid])}
        if parts in (['volumes'], ['volumes', 'detail']) and method == 'GET':
            name = dict(q.split('=', 1) for q in query.split('&') if '=' in q).get('name')
            vols = [self._public(v) for v in self.volumes.values()
                    if name is None or v['name'] == name]
            return 200, {'volumes': vols}
        vol = self.volumes.get(parts[1]) if len(parts) > 1 and parts[0] == 'volumes' else None
        if vol is None:
            return 404, {'itemNotFound': {'code': 404, 'message': 'Volume could not be found.'}}
        if len(parts) == 2 and method == 'GET':
            return 200, {'volume': self._public(vol)}
        if len(parts) == 2 and method == 'DELETE':
            if vol['status'] != 'available':
                return 400, {'badRequest': {'code': 400, 'message': 'Volume is %s' % vol['status']}}
            del self.volumes[vol['id']]
            self.actions.append(('delete', vol['id'], None))
            return 202, None
        if parts[2:] == ['action'] and method == 'POST':
            [(action, info)] = body.items()
            self.actions.append((action, vol['id'], info))
            return self._action(vol, action, info or {})
        return 404, {'itemNotFound': {'code': 404, 'message': 'no such path'}}

    def _action(self, vol, action, info):
        bad = (400, {'badRequest': {'code': 400, 'message': '%s while %s' % (action,
                                                                           vol['status'])}})
        status = vol['status']
        if action == 'os-reserve':
            if status != 'available':
                return bad
            vol['status'] = 'attaching'
        elif action == 'os-unreserve':
            if status == 'attaching':
                vol['status'] = 'available'
        elif action == 'os-initialize_connection':
            return 200, {'connection_info': {'driver_volume_type': 'iscsi', 'data': {
                'volume_id': vol['id'], 'target_portal': '127.0.0.1:3260', 'target_lun': 1,
                'target_iqn': 'iqn.2010-10.org.openstack:volume-' + vol['id'],
                'access_mode': vol['access_mode']}}}
        elif action == 'os-terminate_connection':
            pass
        elif action == 'os-attach':
            if status != 'attaching':
                return bad
            vol['status'] = 'in-use'
            vol['attachments'].append({
                'id': vol['id'], 'volume_id': vol['id'], 'attachment_id': str(uuid.uuid4()),
                'server_id': info.get('instance_uuid'), 'host_name': info.get('host_name'),
                'device': info.get('mountpoint')})
        elif action == 'os-begin_detaching':
            if status != 'in-use':
                return bad
            vol['status'] = 'detaching'
        elif action == 'os-roll_detaching':
            if status == 'detaching':
                vol['status'] = 'in-use'
        elif action == 'os-detach':
            wanted = info.get('attachment_id')
            if not wanted and len(vol['attachments']) == 1:
                # Cinder's fallback (VolumeManager.detach_volume): the only attachment. Zun
                # sends none for a capsule's shared volume, attached under its first member
                # and detached with its last.
                wanted = vol['attachments'][0]['attachment_id']
            vol['attachments'] = [a for a in vol['attachments'] if a['attachment_id'] != wanted]
            vol['status'] = 'in-use' if vol['attachments'] else 'available'
        else:
            return 400, {'badRequest': {'code': 400, 'message': 'unknown action ' + action}}
        return 202, None


class FakeBrick(object):
    """os-brick's connector factory and connector properties, over loop devices."""

    def __init__(self, cinder, zunvmd_url):
        self.cinder = cinder
        self.zunvmd_url = zunvmd_url
        self.connected = {}   # volume id -> loop device
        self.attached = {}    # loop device -> backing file, while attached (also moved ones)
        self.calls = []       # (connect|disconnect, volume id, device, [zunvmd users])
        self._move = False

    def move_next_connect(self):
        """The next connect_volume gives a new device even if the volume is connected."""
        self._move = True

    def users(self, device):
        """zunvmd containers with `device` as a block mount, now."""
        r = requests.get(self.zunvmd_url + '/v1/containers',
                         headers={'OpenStack-API-Version': 'container 1.40'}, timeout=30)
        return [c['uuid'] for c in r.json()['containers']
                for m in c.get('mounts') or [] if m.get('type') == 'block' and
                m.get('source') == device]

    # os_brick.initiator.connector.get_connector_properties
    def get_connector_properties(self, root_helper, my_ip, multipath, enforce_multipath,
                                 host=None, execute=None):
        return {'platform': 'x86_64', 'os_type': 'linux', 'ip': my_ip, 'host': host,
                'multipath': multipath, 'initiator': 'iqn.1993-08.org.debian:01:zunvmtest'}

    # os_brick.initiator.connector.InitiatorConnector.factory
    def factory(self, protocol, root_helper, *args, **kwargs):
        return self

    def connect_volume(self, connection_properties):
        vid = connection_properties['volume_id']
        dev = self.connected.get(vid)
        if dev is None or self._move:
            self._move = False
            dev = subprocess.check_output(
                ['losetup', '-f', '--show', self.cinder.volumes[vid]['backing']],
                text=True).strip()
            self.attached[dev] = self.cinder.volumes[vid]['backing']
            self.connected[vid] = dev
        self.calls.append(('connect', vid, dev, self.users(dev)))
        return {'type': 'block', 'path': dev}

    def disconnect_volume(self, connection_properties, device_info, force=False,
                          ignore_errors=False):
        vid = connection_properties['volume_id']
        dev = self.connected.pop(vid, None)
        self.calls.append(('disconnect', vid, dev, self.users(dev) if dev else []))
        if dev:
            self._detach(dev)

    def _detach(self, dev):
        backing = self.attached.pop(dev)
        out = subprocess.run(['losetup', '-n', '-O', 'BACK-FILE', dev], capture_output=True,
                             text=True).stdout.strip()
        if out == backing:  # still ours: never detach a device someone else took since
            subprocess.run(['losetup', '-d', dev], check=True)

    def cleanup(self):
        for dev in list(self.attached):
            self._detach(dev)
