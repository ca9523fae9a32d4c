"""pytest set-up for the Zun driver tests.

* `zun`: the real Zun when ZUNVM_ZUN_SRC names a checkout (with PBR_VERSION set and its
  dependencies installed), else the stand-in in zun_standin/ (shaped like Zun's classes).
* `zunvm_zun`: from python/ in this tree; its entry points are made visible to stevedore by
  writing the package's egg-info into a temp dir on sys.path.
* A real zunvmd (build/zunvmd, or $ZUNVMD) on a free port with a temp state dir.
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'python'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'e2e'))

def _zun_dist_info(src):
    """Zun's entry points (setup.cfg) as installed metadata, which stevedore reads."""
    import configparser
    out = tempfile.mkdtemp(prefix='zun-dist-')
    info = os.path.join(out, 'zun-10.0.0.dist-info')
    os.mkdir(info)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: zun\nVersion: 10.0.0\n')
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(os.path.join(src, 'setup.cfg'))
    with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
        for group, body in cp['entry_points'].items():
            f.write('[%s]\n' % group)
            f.writelines(line.strip() + '\n' for line in body.splitlines() if line.strip())
    return out


if os.environ.get('ZUNVM_ZUN_SRC'):
    sys.path.insert(0, os.environ['ZUNVM_ZUN_SRC'])
    sys.path.insert(0, _zun_dist_info(os.environ['ZUNVM_ZUN_SRC']))
    os.environ.setdefault('PBR_VERSION', '10.0.0')
else:
    sys.path.insert(0, os.path.join(HERE, 'zun_standin'))


def _egg_info():
    """Entry-point metadata of python/ (setup.cfg) in a temp dir on sys.path."""
    out = tempfile.mkdtemp(prefix='zunvm-egg-')
    subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', out],
                   cwd=os.path.join(ROOT, 'python'), check=True, stdout=subprocess.DEVNULL)
    sys.path.insert(0, out)
    return out


EGG_DIR = _egg_info()

import zun  # noqa: E402  (after the path set-up above)

USING_REAL_ZUN = not getattr(zun, 'ZUNVM_STANDIN', False)


def pytest_report_header(config):
    return 'zun: %s (%s)' % ('real' if USING_REAL_ZUN else 'stand-in',
                             os.path.dirname(zun.__file__))


@pytest.fixture(scope='session')
def conf():
    import zun.conf
    from zunvm_zun import driver  # noqa: F401  (registers [zunvm])
    CONF = zun.conf.CONF
    if USING_REAL_ZUN:
        # Zun's own database in memory (one StaticPool connection), its schema from the models.
        from zun.common import config as zun_config
        from zun.db import api as db_api  # noqa: F401  (registers [database])
        from zun.db.sqlalchemy import api as sqla_api
        from zun.db.sqlalchemy import models
        CONF.set_default('connection', 'sqlite://', group='database')
        CONF.set_default('sqlite_synchronous', False, group='database')
        zun_config.parse_args([], default_config_files=[])
        CONF.set_override('auth_type', 'none', group='keystone_auth')
        models.Base.metadata.create_all(sqla_api.get_engine())
    elif not CONF._args:
        CONF([], project='zun', default_config_files=[])
    CONF.set_override('host', 'zunvm-test-host')
    CONF.set_override('poll_interval', 0.05, group='zunvm')
    CONF.set_override('create_timeout', 120, group='zunvm')
    CONF.set_override('driver_list', [], group='volume')
    return CONF


@pytest.fixture(scope='session')
def zunvmd():
    from zunvmd_proc import Zunvmd
    d = Zunvmd(driver='fake').start()
    yield d
    d.stop()
    d.cleanup()


@pytest.fixture(scope='session')
def busybox_tar(tmp_path_factory):
    """busybox:latest as a docker-save archive (Debian's busybox-static), built once."""
    tar = str(tmp_path_factory.mktemp('img') / 'busybox.tar')
    subprocess.run([os.path.join(ROOT, 'guest', 'build-busybox-image.sh'), tar], check=True,
                   stdout=subprocess.DEVNULL)
    return tar


@pytest.fixture
def driver(conf, zunvmd):
    from zunvm_zun import driver as zdriver
    conf.set_override('api_url', zunvmd.url, group='zunvm')
    return zdriver.ZunvmDriver()


@pytest.fixture
def ctx():
    return admin_context()


def admin_context():
    if USING_REAL_ZUN:
        from zun.common import context
        return context.RequestContext(user_id='u', project_id='p', is_admin=True,
                                      all_projects=True)
    import types
    return types.SimpleNamespace(user_id='u', project_id='p', is_admin=True, all_projects=True)


def new_container(ctx, **kw):
    """A Zun container as zun-api leaves it for zun-compute: in the DB, Creating, on CONF.host."""
    from zun import objects
    import zun.conf
    fields = dict(uuid=str(uuid.uuid4()), name='c-' + uuid.uuid4().hex[:8], image='busybox',
                  command=['sh', '-c', 'echo hello; sleep 1000'], cpu=1.0, memory='256',
                  status='Creating', host=zun.conf.CONF.host, environment={'K': 'v'},
                  labels={}, auto_remove=False, auto_heal=False, interactive=False,
                  tty=False, image_pull_policy='ifnotpresent', project_id='p', user_id='u',
                  restart_policy={'Name': 'no', 'MaximumRetryCount': '0'},
                  security_groups=[], addresses={}, ports=[], disk=1, privileged=False,
                  image_driver='docker')
    fields.update(kw)
    c = objects.Container(ctx, **fields)
    c.create(ctx)
    return c


def tiny_image_archive(path, marker):
    """A docker-save archive of a one-file image (/marker holding `marker`), its own content:
    no other image shares its id."""
    import hashlib
    import io
    import json
    import tarfile

    def tar_bytes(files):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w') as t:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()
    layer = tar_bytes([('marker', marker.encode())])
    config = json.dumps({'architecture': 'amd64', 'os': 'linux',
                         'config': {'Cmd': ['cat', '/marker']},
                         'rootfs': {'type': 'layers',
                                    'diff_ids': ['sha256:' + hashlib.sha256(layer).hexdigest()]}
                         }).encode()
    manifest = json.dumps([{'Config': 'config.json', 'RepoTags': [],
                            'Layers': ['layer/layer.tar']}]).encode()
    with open(path, 'wb') as f:
        f.write(tar_bytes([('manifest.json', manifest), ('config.json', config),
                           ('layer/layer.tar', layer)]))
    return path


@pytest.fixture(scope='session')
def registry(tmp_path_factory):
    """Debian's docker-registry on 127.0.0.1 (a free port, storage in a temp dir) holding a
    one-file image as pulltest:v1 (pushed with skopeo); yields 'host:port'."""
    import socket
    d = tmp_path_factory.mktemp('registry')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        addr = '127.0.0.1:%d' % s.getsockname()[1]
    (d / 'registry.yml').write_text(
        'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n'
        'http:\n  addr: %s\n' % (d / 'data', addr))
    archive = tiny_image_archive(str(d / 'pulltest.tar'), 'pulled')
    log = open(str(d / 'registry.log'), 'w')
    proc = subprocess.Popen(['docker-registry', 'serve', str(d / 'registry.yml')], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        def pushed():
            return subprocess.run(
                ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false',
                 'docker-archive:' + archive, 'docker://%s/pulltest:v1' % addr],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        eventually(pushed, bool, timeout=30, what='a push to docker-registry')
        yield addr
    finally:
        proc.terminate()
        proc.wait()
        log.close()


@pytest.fixture
def glance(monkeypatch):
    """A fake Glance over HTTP behind the real glanceclient, as Zun's (or the stand-in's)
    GlanceDriver reaches it through zun.common.clients.OpenStackClients.glance()."""
    from fake_glance import FakeGlance
    from zun.common import clients
    g = FakeGlance()
    monkeypatch.setattr(clients.OpenStackClients, 'glance', lambda self: g.client())
    yield g
    g.stop()


def time_out_first_wait(driver):
    """Makes the driver's next wait for zunvmd fail as a timeout (once); returns the list that
    gets the uuid it was waiting for."""
    from zunvm_zun import client as zclient
    wait = driver.api.wait
    timed_out = []

    def wait_times_out_once(uuid_, done, deadline):
        if not timed_out:
            timed_out.append(uuid_)
            raise zclient.ApiError(408, 'container.timeout', 'Timeout', 'still Creating')
        return wait(uuid_, done, deadline)
    driver.api.wait = wait_times_out_once
    return timed_out


def eventually(fn, ok, timeout=20, what='condition'):
    """Polls fn() until ok(value) holds; returns the value, or fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s not met; last value %r' % (what, value))
        time.sleep(0.05)
