#!/usr/bin/python3
"""Runs Zun's own websocket proxy (zun.websocket.websocketproxy, unchanged, the code behind
`zun-wsproxy`) for test_zun_console.py, in its own process as zun-wsproxy runs.

argv[1]: a JSON file {db, container: {...fields}, exec: {exec_id, token, url} | null}: the
rows zun-api and zun-compute would have written (Zun's own objects, in a SQLite file made
here). Listens on 127.0.0.1, a free port, printed as `PORT <n>` once bound. Needs ZUNVM_ZUN_SRC.
"""
import json
import os
import sys

spec = json.load(open(sys.argv[1]))
sys.path.insert(0, os.environ['ZUNVM_ZUN_SRC'])
os.environ.setdefault('PBR_VERSION', '10.0.0')

import websockify  # noqa: E402

from zun.common import config as zun_config  # noqa: E402
from zun.common import context  # noqa: E402
import zun.conf  # noqa: E402
from zun.db import api as db_api  # noqa: E402,F401  (registers [database])
from zun.db.sqlalchemy import api as sqla_api  # noqa: E402
from zun.db.sqlalchemy import models  # noqa: E402
from zun import objects  # noqa: E402
from zun.websocket import websocketproxy  # noqa: E402

CONF = zun.conf.CONF
CONF.set_default('connection', 'sqlite:///' + spec['db'], group='database')
zun_config.parse_args([], default_config_files=[])
models.Base.metadata.create_all(sqla_api.get_engine())

ctx = context.get_admin_context(all_projects=True)
container = objects.Container(ctx, **spec['container'])
container.create(ctx)
if spec.get('exec'):
    objects.ExecInstance(ctx, container_id=container.id, **spec['exec']).create(ctx)


class Proxy(websocketproxy.ZunWebSocketProxy):
    """Zun's proxy; only its listening socket is reported, so the test can use port 0."""

    @staticmethod
    def socket(*args, **kwargs):
        sock = websockify.WebSocketProxy.socket(*args, **kwargs)
        print('PORT %d' % sock.getsockname()[1], flush=True)
        return sock


Proxy(listen_host='127.0.0.1', listen_port=0, file_only=True,
      RequestHandlerClass=websocketproxy.ZunProxyRequestHandler).start_server()
