"""zun-compute's own Manager (zun/compute/manager.py) driving the zunvm driver.

Runs only against the real Zun (ZUNVM_ZUN_SRC=<checkout>, see docs/zun-driver.md): the
stand-in has no Manager. Placement and the resource tracker are replaced by mocks (no
placement service here) and eventlet's spawn_n runs the work inline, so each manager call
returns when the driver is done.
"""
import contextlib
from unittest import mock

import pytest

from conftest import USING_REAL_ZUN, admin_context, new_container

pytestmark = pytest.mark.skipif(not USING_REAL_ZUN,
                                reason='needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)')


@contextlib.contextmanager
def real_manager(conf, zunvmd, busybox_tar):
    """zun-compute's Manager on zunvmd, its driver loaded through the entry points."""
    from zun.compute import claims
    from zun.compute import manager as manager_mod
    conf.set_override('api_url', zunvmd.url, group='zunvm')
    conf.set_override('container_driver', 'zunvm')
    conf.set_override('capsule_driver', 'zunvm')
    with mock.patch('zun.common.utils.spawn_n', side_effect=lambda f, *a, **k: f(*a, **k)):
        mgr = manager_mod.Manager()
        mgr.reportclient = mock.Mock()
        rt = mock.Mock()
        rt.container_claim.side_effect = lambda *a, **k: claims.NopClaim()
        rt.container_update_claim.side_effect = lambda *a, **k: claims.NopClaim()
        rt.compute_node.cpus = 2
        rt.compute_node.mem_total = 4096
        mgr._resource_tracker = rt
        mgr.driver.load_image(busybox_tar)  # the pulls below find it here: no registry
        yield mgr
    conf.clear_override('container_driver')
    conf.clear_override('capsule_driver')


@pytest.fixture
def manager(conf, zunvmd, busybox_tar):
    with real_manager(conf, zunvmd, busybox_tar) as mgr:
        yield mgr


def action_ctx(c, name):
    from zun import objects
    ctx = admin_context()
    objects.ContainerAction.action_start(ctx, c.uuid, name, want_result=False)
    return ctx


def reload(c):
    from zun import objects
    return objects.Container.get_by_uuid(admin_context(), c.uuid)


def test_run_exec_logs_update_stop_delete_through_the_manager(manager, zunvmd):
    from zun.common import consts
    from zun.common import exception
    assert type(manager.driver).__name__ == 'ZunvmDriver'
    assert type(manager.capsule_driver).__name__ == 'ZunvmDriver'
    c = new_container(admin_context(), command=['sh', '-c', 'echo hi; sleep 1000'], disk=None)
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    c = reload(c)
    assert c.status == consts.RUNNING and c.task_state is None
    assert c.container_id == c.uuid and c.disk == 10  # node_support_disk_quota: default_disk

    out = manager.container_exec(admin_context(), c, 'sh -c "echo x; exit 4"', True, False)
    assert out['output'] == b'x\n' and out['exit_code'] == 4
    assert b'hi' in manager.container_logs(admin_context(), c, True, True, False, 'all', None)
    assert manager.container_top(admin_context(), c, None)['Processes']
    assert 'CPU %' in manager.container_stats(admin_context(), c)

    manager.container_update(admin_context(), c, {'memory': '768'})
    assert reload(c).memory == '768'

    manager.container_stop(action_ctx(c, 'stop'), c, 5)
    c = reload(c)
    assert c.status == consts.STOPPED and c.task_state is None
    manager.container_start(action_ctx(c, 'start'), c)
    assert reload(c).status == consts.RUNNING

    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)
    with pytest.raises(exception.ContainerNotFound):
        reload(c)


def test_create_failure_puts_the_container_in_error(manager):
    from zun.common import consts
    c = new_container(admin_context(), image='not-here', image_pull_policy='never')
    with pytest.raises(Exception):
        manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    c = reload(c)
    assert c.status == consts.ERROR and 'not-here' in c.status_reason


def test_sync_and_init_containers(manager, zunvmd):
    import requests
    from zun.common import consts
    c = new_container(admin_context())
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    requests.post(zunvmd.url + '/v1/containers/%s/stop?timeout=0' % c.uuid, timeout=30)
    deadline_view = manager.driver.api.wait(c.uuid, lambda v: v['status'] == 'Stopped', 20)
    assert deadline_view['status'] == 'Stopped'
    manager.sync_container_state(admin_context())
    assert reload(c).status == consts.STOPPED
    manager.init_containers(admin_context())  # every DB container of the host is listed
