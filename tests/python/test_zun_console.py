"""Consoles through Zun's own websocket proxy: zun-wsproxy's code (unchanged, run by
zun_wsproxy_runner.py in its own process) in front of zunvmd's console listener, with the
driver's answers stored as zun-compute stores them (container.websocket_url/_token for attach,
an ExecInstance with [docker] docker_remote_api_url for an interactive exec). The client talks
to the proxy as python3-zunclient does. Real Zun only (ZUNVM_ZUN_SRC) and python3-websockify.
"""
import json
import os
import subprocess
import sys
import uuid

import pytest

from conftest import USING_REAL_ZUN
from test_zun_driver import started

pytestmark = pytest.mark.skipif(not USING_REAL_ZUN, reason='needs the real Zun (ZUNVM_ZUN_SRC)')
HERE = os.path.dirname(os.path.abspath(__file__))


def read_until(ws, needle):
    seen = b''
    while needle not in seen:
        m = ws.recv()
        assert m, seen
        seen += m if isinstance(m, bytes) else m.encode()
    return seen


@pytest.fixture
def proxy(tmp_path):
    """start(container fields, exec row or None) -> the proxy's port; stopped afterwards."""
    procs = []

    def start(container, exec_row):
        spec = tmp_path / ('spec-%d.json' % len(procs))
        spec.write_text(json.dumps({'db': str(tmp_path / ('zun-%d.db' % len(procs))),
                                    'container': container, 'exec': exec_row}))
        p = subprocess.Popen([sys.executable, os.path.join(HERE, 'zun_wsproxy_runner.py'),
                              str(spec)], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        for line in p.stdout:
            if line.startswith('PORT '):
                return int(line.split()[1])
        raise AssertionError('zun-wsproxy ended (%s) without listening' % p.wait())

    yield start
    for p in procs:
        p.terminate()
        p.wait(30)


def row(c, **extra):
    fields = dict(uuid=c.uuid, name=c.name, container_id=c.container_id, image='busybox',
                  status='Running', host=c.host, interactive=True, tty=True,
                  project_id='p', user_id='u')
    fields.update(extra)
    return fields


def test_attach_through_zuns_proxy(driver, ctx, zunvmd, proxy):
    import websocket
    c = started(driver, ctx, command=['sh'], interactive=True, tty=True)
    token = str(uuid.uuid4())  # as zun-compute's container_attach
    port = proxy(row(c, websocket_url=driver.get_websocket_url(ctx, c), websocket_token=token), None)
    ws = websocket.create_connection('ws://127.0.0.1:%d/?token=%s&uuid=%s' % (port, token, c.uuid),
                                     subprotocols=['binary', 'base64'], timeout=30)
    try:
        ws.send_binary(b'echo through-zun\r')
        read_until(ws, b'through-zun')
    finally:
        ws.close()
    # A wrong token is refused by Zun's proxy before anything reaches zunvmd.
    with pytest.raises(Exception):
        bad = websocket.create_connection('ws://127.0.0.1:%d/?token=nope&uuid=%s' % (port, c.uuid),
                                          subprotocols=['binary', 'base64'], timeout=30)
        read_until(bad, b'never')


def test_interactive_exec_through_zuns_proxy(driver, ctx, zunvmd, proxy):
    import websocket
    c = started(driver, ctx, command=['sh'], interactive=True, tty=True)
    exec_id = driver.execute_create(ctx, c, 'sh', interactive=True)
    token = str(uuid.uuid4())  # as zun-compute's container_exec with run=False
    docker_url = 'tcp://' + zunvmd.console_url.split('//', 1)[1]
    port = proxy(row(c), {'exec_id': exec_id, 'token': token, 'url': docker_url})
    driver.execute_resize(exec_id, 24, 80)
    ws = websocket.create_connection('ws://127.0.0.1:%d/?token=%s&uuid=%s&exec_id=%s'
                                     % (port, token, c.uuid, exec_id),
                                     subprotocols=['binary', 'base64'], timeout=30)
    try:
        ws.send_binary(b'stty size\r')
        read_until(ws, b'24 80')
        driver.execute_resize(exec_id, 40, 120)  # zun-api's execute_resize, by the exec's id
        ws.send_binary(b'stty size\r')
        read_until(ws, b'40 120')
    finally:
        ws.close()
