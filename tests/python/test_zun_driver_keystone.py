"""The zunvm Zun driver against a zunvmd with `[api] auth_strategy = keystone` and a real
Keystone (Debian's python3-keystone on 127.0.0.1, tests/e2e/keystone_proc.py): the driver
authenticates with the service user of zun.conf's [zunvm] keystoneauth options (auth_type =
password), creates and deletes through zunvmd as zun-compute does, and gets a new token when
the one it holds is revoked. Fake sandbox driver: no VM.
"""
import pytest

from conftest import eventually
from test_zun_driver import created

from keystone_proc import Keystone
from zunvmd_proc import Zunvmd

CACHE_SECONDS = 1


@pytest.fixture(scope='module')
def keystone():
    k = Keystone().setup().start()
    try:
        # zunvmd's own user validates tokens; the driver's user acts for every Zun project, so
        # it is an admin in Zun's policy, as Zun's service user is.
        k.user('zunvm', 'zunvm-secret', 'service', 'service')
        k.user('zun', 'zun-secret', 'service', 'admin')
        yield k
    finally:
        k.cleanup()


@pytest.fixture(scope='module')
def ks_zunvmd(keystone):
    d = Zunvmd(driver='fake', config_text=(
        '[api]\nauth_strategy = keystone\n'
        '[keystone_authtoken]\nauth_url = %s\nusername = zunvm\npassword = zunvm-secret\n'
        'project_name = service\ntoken_cache_time = %d\n' % (keystone.url, CACHE_SECONDS))).start()
    yield d
    d.cleanup()


@pytest.fixture
def ks_driver(conf, ks_zunvmd, keystone):
    from keystoneauth1 import loading as ks_loading
    from zunvm_zun import driver as zdriver
    conf.register_opts(ks_loading.get_auth_plugin_conf_options('password'), group='zunvm')
    overrides = {'api_url': ks_zunvmd.url, 'auth_type': 'password', 'auth_url': keystone.url,
                 'username': 'zun', 'password': 'zun-secret', 'project_name': 'service',
                 'user_domain_name': 'Default', 'project_domain_name': 'Default'}
    for k, v in overrides.items():
        conf.set_override(k, v, group='zunvm')
    yield zdriver.ZunvmDriver()
    for k in overrides:
        conf.clear_override(k, group='zunvm')


def test_the_driver_authenticates_with_keystone_and_survives_a_revoked_token(ks_driver, keystone, ctx):
    c = created(ks_driver, ctx)
    seen = ks_driver.api.get(c.uuid)
    assert seen['uuid'] == c.uuid
    # The user and project zunvmd recorded are Keystone's, not headers'.
    _, doc = keystone.token('zun', 'zun-secret', 'service')
    assert seen['project_id'] == doc['project']['id']

    # Revoke the token the driver holds; once zunvmd's cache forgets it (CACHE_SECONDS), the
    # next call is a 401 that the client answers by authenticating again.
    held = ks_driver.api.token_source.get_token()
    status, _, _ = keystone.call('DELETE', '/auth/tokens', token=keystone.admin_token(),
                                 headers={'X-Subject-Token': held})
    assert status == 204

    def rejected():
        import urllib.request
        import urllib.error
        req = urllib.request.Request(ks_driver.api.base + '/containers', headers={'X-Auth-Token': held})
        try:
            urllib.request.urlopen(req, timeout=10)
            return False
        except urllib.error.HTTPError as e:
            return e.code == 401
    eventually(rejected, bool, timeout=30, what='zunvmd refusing the revoked token')
    assert ks_driver.api.get(c.uuid)['uuid'] == c.uuid
    assert ks_driver.api.token_source.get_token() != held

    ks_driver.delete(ctx, c, True)
    eventually(lambda: c.uuid not in [x['uuid'] for x in ks_driver.api.list_all()], bool,
               timeout=30, what='the container gone')


def test_wrong_credentials_are_an_error_not_an_open_door(conf, ks_zunvmd, keystone):
    from keystoneauth1 import loading as ks_loading
    from zunvm_zun import client as zclient
    from zunvm_zun import conf as zconf
    conf.register_opts(ks_loading.get_auth_plugin_conf_options('password'), group='zunvm')
    overrides = {'auth_type': 'password', 'auth_url': keystone.url, 'username': 'zun',
                 'password': 'wrong', 'project_name': 'service',
                 'user_domain_name': 'Default', 'project_domain_name': 'Default'}
    for k, v in overrides.items():
        conf.set_override(k, v, group='zunvm')
    try:
        api = zclient.Client(ks_zunvmd.url, token=zconf.keystone_session(conf))
        with pytest.raises(zclient.Unreachable, match='no Keystone token'):
            api.list_all()
        with pytest.raises(zclient.ApiError) as e:  # and no token at all is a 401 from zunvmd
            zclient.Client(ks_zunvmd.url).list_all()
        assert e.value.status == 401
    finally:
        for k in overrides:
            conf.clear_override(k, group='zunvm')


def test_a_401_is_retried_once_with_a_new_token_and_never_for_a_streamed_body():
    """Against a server that refuses every token: one retry after invalidate(), then the 401;
    a file-like body (an image upload) is not sent twice."""
    import http.server
    import io
    import threading
    from zunvm_zun import client as zclient

    seen = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get('X-Auth-Token'))
            self.send_response(401)
            self.send_header('Content-Length', '0')
            self.end_headers()
        do_POST = do_GET

        def log_message(self, *args):
            pass

    class Tokens(object):
        def __init__(self):
            self.n, self.invalidated = 0, 0

        def get_token(self):
            self.n += 1
            return 'token-%d' % self.n

        def invalidate(self):
            self.invalidated += 1

    server = http.server.HTTPServer(('127.0.0.1', 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tokens = Tokens()
        api = zclient.Client('http://127.0.0.1:%d' % server.server_port, token=tokens)
        with pytest.raises(zclient.ApiError) as e:
            api.request('GET', '/containers')
        assert e.value.status == 401
        assert seen == ['token-1', 'token-2'] and tokens.invalidated == 1
        del seen[:]
        with pytest.raises(zclient.ApiError):
            api.request('POST', '/images/import', data=io.BytesIO(b'tar bytes'))
        assert len(seen) == 1
    finally:
        server.shutdown()
