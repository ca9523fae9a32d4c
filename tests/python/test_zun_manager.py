"""zun-compute's own Manager (zun/compute/manager.py) driving the zunvm driver.

Runs only against the real Zun (ZUNVM_ZUN_SRC=<checkout>, see docs/zun-driver.md): the
stand-in has no Manager. Placement and the resource tracker are replaced by mocks (no
placement service here) and eventlet's spawn_n runs the work inline, so each manager call
returns when the driver is done.
"""
import contextlib
from unittest import mock

import pytest
import requests

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


# --- issue 14: the paths Zun's own classes take -------------------------------------------------

def _glance_image(glance, name):
    [img] = [i for i in glance.images.values() if i['name'] == name]
    return img


def test_commit_through_the_manager_uploads_to_glance(manager, zunvmd, glance):
    """Row 1: the manager's container_commit with Zun's real GlanceDriver (the real
    glanceclient on a fake Glance): pause, commit, get_image, update_image, upload."""
    import io
    import tarfile
    from zun.common import consts
    c = new_container(admin_context(), command=['sh', '-c', 'echo x > /marker; sleep 1000'])
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    c = reload(c)
    out = manager.container_commit(action_ctx(c, 'commit'), c, 'mgrsnap', 'v2')
    img = glance.images[out['uuid']]
    assert (img['name'], img['container_format'], img['disk_format'], img['tags'],
            img['status']) == ('mgrsnap', 'docker', 'raw', ['v2'], 'active')
    with tarfile.open(fileobj=io.BytesIO(glance.data[img['id']])) as t:
        assert 'manifest.json' in t.getnames()
    assert reload(c).status == consts.RUNNING  # unpaused again
    assert manager.driver.inspect_image('mgrsnap:v2')['RepoTags'] == ['mgrsnap:v2']
    manager.driver.delete_image(admin_context(), 'mgrsnap:v2')
    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)


def test_a_failed_upload_through_the_manager_leaves_nothing(manager, zunvmd, glance):
    """Row 2: the manager's error handler (delete_committed_image with 2 arguments, then
    delete_image of zunvmd's image) runs to its end, also when Glance fails the delete."""
    c = new_container(admin_context())
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    for n, delete_fails in enumerate((False, True)):
        glance.fail_upload, glance.fail_delete = True, delete_fails
        name = 'failsnap%d' % n
        with pytest.raises(Exception) as e:
            manager.container_commit(action_ctx(reload(c), 'commit'), reload(c), name, 'v1')
        assert 'TypeError' not in repr(e.value) and 'argument' not in str(e.value)
        assert (len([i for i in glance.images.values() if i['name'] == name]) == 1) is delete_fails
        r = requests.get(zunvmd.url + '/v1/images/%s:v1' % name, timeout=30)
        assert r.status_code == 404, r.text
    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)


def test_image_pull_and_delete_through_the_manager(manager, zunvmd, registry):
    """Row 3: _do_image_pull keeps inspect_image()['Id'] as image_id; _do_image_delete
    deletes by it, and zunvmd really loses the image."""
    from zun import objects
    ctx = admin_context()
    image = objects.Image(ctx, repo=registry + '/pulltest', tag='v1', project_id='p',
                          user_id='u', host='zunvm-test-host')
    image.pull(ctx)
    manager._do_image_pull(ctx, image)
    assert image.image_id.startswith('sha256:')

    def in_zunvmd():
        images = requests.get(zunvmd.url + '/v1/images', timeout=30).json()['images']
        return [i['image_id'] for i in images if i['repo'] == registry + '/pulltest']
    assert in_zunvmd() == [image.image_id]
    manager._do_image_delete(ctx, image)
    assert in_zunvmd() == []


def _zunvmd_addr(zunvmd, c):
    view = requests.get(zunvmd.url + '/v1/containers/' + c.uuid, timeout=30).json()
    [entries] = list(view['addresses'].values())
    return entries[0]['addr']


def test_rebuild_through_the_manager_keeps_running_and_the_address(manager, zunvmd):
    """Row 4: _do_container_rebuild (its _get_network_info asks Neutron about each entry of
    `addresses`) ends Running, at the same address."""
    from zun.common import consts
    c = new_container(admin_context())
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    c = reload(c)
    before = _zunvmd_addr(zunvmd, c)
    assert c.addresses == {}
    c.status = consts.REBUILDING  # as zun-api's rebuild leaves it
    c.save(admin_context())
    manager.container_rebuild(action_ctx(c, 'rebuild'), c, True)
    c = reload(c)
    assert c.status == consts.RUNNING and c.task_state is None, c.status_reason
    assert _zunvmd_addr(zunvmd, c) == before
    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)


def test_auto_heal_through_the_sync_rebuilds_once_with_its_action(manager, zunvmd):
    """Rows 4, 6 and 8: a container zunvmd lost is rebuilt by the sync (containers, then
    capsules) once, its rebuild action recorded and finished, Running at its address."""
    from zun.common import consts
    from zun import objects
    c = new_container(admin_context(), auto_heal=True)
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    before = _zunvmd_addr(zunvmd, c)
    requests.delete(zunvmd.url + '/v1/containers/%s?force=True' % c.uuid, timeout=30)
    manager.driver.api.wait(c.uuid, lambda v: False, 20)  # returns None once it is 404
    rebuilds = []
    real_rebuild = manager.container_rebuild

    def counting_rebuild(context, container, run):
        rebuilds.append(container.uuid)
        return real_rebuild(context, container, run)
    manager.container_rebuild = counting_rebuild
    manager.sync_container_state(admin_context())
    assert rebuilds == [c.uuid]
    c = reload(c)
    assert c.status == consts.RUNNING, c.status_reason
    assert _zunvmd_addr(zunvmd, c) == before
    [rebuild] = [a for a in objects.ContainerAction.get_by_container_uuid(admin_context(), c.uuid)
                 if a.action == 'rebuild']
    assert rebuild.finish_time is not None
    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)


def test_kill_with_the_cli_s_none_signal_through_the_manager(manager):
    """Row 5: zunclient sends signal 'None'; the container is Stopped when kill returns."""
    from zun.common import consts
    for _ in range(5):
        c = new_container(admin_context())
        manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
        manager.container_kill(action_ctx(reload(c), 'kill'), reload(c), 'None')
        assert reload(c).status == consts.STOPPED
        manager.container_delete(action_ctx(c, 'delete'), reload(c), True)


def _zun_exec_id_schema():
    """Zun's API schema of exec ids (parameter_types.exec_id). Zed's module cannot be imported
    on Python 3.11 (its SIGNALS list parses str(signal.Signals)), so it is read from the source."""
    import ast
    import os
    import zun
    try:
        from zun.api.controllers.v1.schemas import parameter_types
        return parameter_types.exec_id
    except IndexError:
        with open(os.path.join(os.path.dirname(zun.__file__), 'api', 'controllers', 'v1',
                               'schemas', 'parameter_types.py')) as f:
            tree = ast.parse(f.read())
        [node] = [n for n in tree.body if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], 'id', None) == 'exec_id']
        return ast.literal_eval(node.value)


def test_exec_ids_pass_zun_s_schema_and_a_console_is_a_clear_400(manager):
    """Rows 9 and 10."""
    import jsonschema
    from zun.common import exception
    c = new_container(admin_context())
    manager.container_create(action_ctx(c, 'create'), None, [], {c.uuid: []}, c, True)
    exec_id = manager.driver.execute_create(admin_context(), reload(c), 'true')
    jsonschema.validate(exec_id, _zun_exec_id_schema())
    with pytest.raises(exception.Invalid) as e:
        manager.container_attach(admin_context(), reload(c))
    assert e.value.code == 400
    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)
