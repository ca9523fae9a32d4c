"""Volumes through Zun: zun-compute's real Manager with zunvm's volume drivers (entry points
zunvm_cinder, zunvm_local) on a real zunvmd.

Zun's own volume code runs unchanged (zun-api's _build_requested_volumes, the manager's
attach/detach/remount, Zun's Cinder driver and CinderWorkflow); only the remote edges are fakes:
Cinder's API (fake_cinder.FakeCinder behind the real cinderclient) and os-brick's connector
(fake_cinder.FakeBrick, which connects each volume as a loop device of this host). Needs the
real Zun (ZUNVM_ZUN_SRC) and root (losetup).
"""
import base64
import logging
import os
import subprocess

import pytest
import requests

from conftest import USING_REAL_ZUN, admin_context, new_container
from fake_cinder import FakeBrick, FakeCinder

pytestmark = [
    pytest.mark.skipif(not USING_REAL_ZUN, reason='needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)'),
    pytest.mark.skipif(os.geteuid() != 0, reason='needs root for loop devices'),
]

DRIVER_LIST = ['zunvm_cinder', 'zunvm_local']


@pytest.fixture
def cinder(tmp_path, monkeypatch):
    from zun.common import clients
    c = FakeCinder(tmp_path)
    monkeypatch.setattr(clients.OpenStackClients, 'cinder', lambda self: c.client())
    yield c
    c.stop()


@pytest.fixture
def brick(cinder, zunvmd, monkeypatch):
    from os_brick.initiator import connector
    b = FakeBrick(cinder, zunvmd.url)
    monkeypatch.setattr(connector, 'get_connector_properties', b.get_connector_properties)
    monkeypatch.setattr(connector.InitiatorConnector, 'factory', staticmethod(b.factory))
    yield b
    b.cleanup()


@pytest.fixture
def host_mounts(conf, tmp_path, monkeypatch):
    """Zun's host side, watched: [volume] volume_dir (where Zun mounts volumes and writes
    injected files) in tmp, and the calls of zun.common.mount.do_mount (recorded, not run)."""
    from zun.common import mount
    conf.set_override('volume_dir', str(tmp_path / 'mnt'), group='volume')
    calls = []
    monkeypatch.setattr(mount, 'do_mount', lambda *a: calls.append(a))
    yield calls
    conf.clear_override('volume_dir', group='volume')


@pytest.fixture
def volume_conf(conf):
    conf.set_override('driver_list', DRIVER_LIST, group='volume')
    yield conf
    conf.set_override('driver_list', [], group='volume')  # conftest's


@pytest.fixture
def manager(volume_conf, zunvmd, busybox_tar, cinder, brick, host_mounts):
    from test_zun_manager import real_manager
    with real_manager(volume_conf, zunvmd, busybox_tar) as mgr:
        yield mgr


def restarted_manager(conf, zunvmd, busybox_tar):
    """zun-compute started again (a new Manager and driver) on the same zunvmd and database."""
    from test_zun_manager import real_manager
    return real_manager(conf, zunvmd, busybox_tar)


def action_ctx(c, name):
    from test_zun_manager import action_ctx as start
    return start(c, name)


def reload(c):
    from zun import objects
    return objects.Container.get_by_uuid(admin_context(), c.uuid)


def requested_volumes(ctx, container, mounts):
    """zun-api's own volume mappings for the `mounts` of a create, as the CLI sends them."""
    try:
        from zun.api.controllers.v1 import containers
    except IndexError:  # unmaintained/zed's zun-api does not import on Python >= 3.11
        return zed_requested_volumes(ctx, container, mounts)
    return containers.ContainersController._build_requested_volumes(None, ctx, container,
                                                                    mounts)


def zed_requested_volumes(ctx, container, mounts):
    """What ContainersController._build_requested_volumes does (the same in zed and master)."""
    from zun import objects
    from zun.volume import cinder_api
    cinder = cinder_api.CinderAPI(ctx)
    out = []
    for mount in mounts:
        v = {'cinder_volume_id': None, 'auto_remove': False, 'contents': None,
             'user_id': ctx.user_id, 'project_id': ctx.project_id}
        if mount.get('type', 'volume') == 'volume':
            volume = (cinder.search_volume(mount['source']) if mount.get('source') else
                      cinder.create_volume(mount['size']))
            cinder.ensure_volume_usable(volume)
            v.update(cinder_volume_id=volume.id, volume_provider='cinder',
                     auto_remove=not mount.get('source'))
        else:
            v.update(contents=mount['source'], volume_provider='local')
        volume_object = objects.Volume(ctx, **v)
        volume_object.create(ctx)
        out.append(objects.VolumeMapping(ctx, volume_id=volume_object.id,
                                         container_path=mount['destination'], **v))
    return {container.uuid: out}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def zunvmd_view(zunvmd, c):
    r = requests.get(zunvmd.url + '/v1/containers/' + c.uuid,
                     headers={'OpenStack-API-Version': 'container 1.40'}, timeout=30)
    return r.json() if r.status_code == 200 else r.status_code


def volmaps(c):
    from zun import objects
    return objects.VolumeMapping.list_by_container(admin_context(), c.uuid)


def device_path(volmap):
    import json
    return json.loads(volmap.connection_info)['data']['device_path']


def host_mounted(dev):
    real = os.path.realpath(dev)
    with open('/proc/mounts') as f:
        return [line for line in f if os.path.realpath(line.split()[0]) == real]


def run(manager, ctx, mounts, **kw):
    """A container created and started by the manager with these mounts; reloaded."""
    from zun.common import consts
    c = new_container(ctx, disk=None, **kw)
    manager.container_create(action_ctx(c, 'create'), None, [],
                             requested_volumes(ctx, c, mounts), c, True)
    c = reload(c)
    assert c.status == consts.RUNNING and c.task_state is None, c.status_reason
    return c


def test_cinder_volume_and_injected_file_through_the_manager(manager, zunvmd, cinder, brick,
                                                            host_mounts, conf):
    from zun.common import exception
    from zunvm_zun.driver import ZunvmError
    ctx = admin_context()
    vid = cinder.add_volume(name='data')
    c = run(manager, ctx, [{'source': 'data', 'destination': '/data'},
                           {'type': 'bind', 'source': b64('hello\n'),
                            'destination': '/etc/app.conf'}])
    dev = brick.connected[vid]
    assert brick.calls == [('connect', vid, dev, [])]  # before zunvmd's create

    # zunvmd has the raw device (formatted ext4 when blank) and the file's bytes
    assert zunvmd_view(zunvmd, c)['mounts'] == [
        {'type': 'block', 'source': dev, 'serial': vid[:20], 'destination': '/data',
         'read_only': False},
        {'type': 'bind', 'source': '', 'size_bytes': 6, 'destination': '/etc/app.conf',
         'read_only': False}]
    # Cinder: reserved, connected, attached to the container at that device on this host
    assert cinder.calls_for(vid) == ['os-reserve', 'os-initialize_connection', 'os-attach']
    vol = cinder.volumes[vid]
    assert vol['status'] == 'in-use'
    assert [(a['server_id'], a['host_name'], a['device']) for a in vol['attachments']] == [
        (c.uuid, conf.host, dev)]
    [cinder_map] = [m for m in volmaps(c) if m.volume_provider == 'cinder']
    assert device_path(cinder_map) == dev
    # ... and nothing on the host: no mount, no mount point, no injected file
    assert host_mounts == [] and host_mounted(dev) == []
    assert not os.path.exists(conf.volume.volume_dir)

    # the volume stays with the VM while zunvmd has the container
    with pytest.raises(ZunvmError):
        manager.driver.detach_volume(ctx, cinder_map)
    assert [call[0] for call in brick.calls] == ['connect']

    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)
    with pytest.raises(exception.ContainerNotFound):
        reload(c)
    assert zunvmd_view(zunvmd, c) == 404
    # os-brick disconnected once zunvmd no longer had the container; Cinder detached
    assert brick.calls[1:] == [('disconnect', vid, dev, [])]
    assert cinder.calls_for(vid)[3:] == ['os-begin_detaching', 'os-terminate_connection',
                                         'os-detach']
    assert (vol['status'], vol['attachments']) == ('available', [])
    assert volmaps(c) == [] and vid in cinder.volumes  # the user's volume stays


def test_new_and_read_only_volumes(manager, zunvmd, cinder, brick):
    """`size=` makes a Cinder volume removed with the container (auto_remove); a read-only
    attachment (access_mode ro) is a read-only block mount."""
    ctx = admin_context()
    ro = cinder.add_volume(access_mode='ro')
    # a read-only volume holds data already (zunvmd refuses to format a blank one for it)
    subprocess.run(['mkfs.ext4', '-q', '-F', cinder.volumes[ro]['backing']], check=True)
    c = run(manager, ctx, [{'size': '1', 'destination': '/scratch'},
                           {'source': ro, 'destination': '/ro'}])
    [made] = [v for v in cinder.volumes if v != ro]
    mounts = {m['destination']: m for m in zunvmd_view(zunvmd, c)['mounts']}
    assert mounts['/scratch'] == {'type': 'block', 'source': brick.connected[made],
                                  'serial': made[:20], 'destination': '/scratch',
                                  'read_only': False}
    assert mounts['/ro']['read_only'] is True and mounts['/ro']['serial'] == ro[:20]

    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)
    assert made not in cinder.volumes and 'delete' in cinder.calls_for(made)
    assert ro in cinder.volumes and cinder.volumes[ro]['status'] == 'available'
    assert [(call[0], call[3]) for call in brick.calls if call[0] == 'disconnect'] == [
        ('disconnect', []), ('disconnect', [])]


def test_remount_at_start_up_connects_again(manager, volume_conf, zunvmd, busybox_tar, cinder,
                                            brick):
    """zun-compute's start-up (init_containers, remount_container_volume) connects each
    volume again; the same device keeps the container as it is."""
    from zun.common import consts
    ctx = admin_context()
    vid = cinder.add_volume()
    c = run(manager, ctx, [{'source': vid, 'destination': '/data'},
                           {'type': 'bind', 'source': b64('x'), 'destination': '/x'}])
    dev = brick.connected[vid]
    with restarted_manager(volume_conf, zunvmd, busybox_tar) as mgr:
        mgr.init_containers(admin_context())
        assert brick.calls[-1] == ('connect', vid, dev, [c.uuid])  # while its VM has it
        c = reload(c)
        assert c.status == consts.RUNNING, c.status_reason
        [cinder_map] = [m for m in volmaps(c) if m.volume_provider == 'cinder']
        assert device_path(cinder_map) == dev
        assert cinder.calls_for(vid) == ['os-reserve', 'os-initialize_connection', 'os-attach']
        mgr.container_delete(action_ctx(c, 'delete'), reload(c), True)
    assert brick.calls[-1] == ('disconnect', vid, dev, [])
    assert cinder.volumes[vid]['status'] == 'available'


def test_remount_at_another_device_fails_clearly_and_a_rebuild_takes_it(
        manager, volume_conf, zunvmd, busybox_tar, cinder, brick, caplog):
    """A volume connected again at another device than its VM has: the container is Error
    (the reason names the volume in zun-compute's log), its volumes stay attached (not pulled
    from under the VM), and a rebuild gives the container the new device."""
    from zun.common import consts
    ctx = admin_context()
    vid = cinder.add_volume()
    c = run(manager, ctx, [{'source': vid, 'destination': '/data'}])
    old = brick.connected[vid]
    brick.move_next_connect()
    with restarted_manager(volume_conf, zunvmd, busybox_tar) as mgr:
        with caplog.at_level(logging.WARNING):
            mgr.init_containers(admin_context())
        new = brick.connected[vid]
        assert new != old
        c = reload(c)
        assert c.status == consts.ERROR
        assert 'volume %s was connected again at %s' % (vid, new) in caplog.text
        assert 'volume %s is not detached' % vid in caplog.text
        assert [call[0] for call in brick.calls] == ['connect', 'connect']  # no disconnect
        assert 'os-begin_detaching' not in cinder.calls_for(vid)
        assert zunvmd_view(zunvmd, c)['mounts'][0]['source'] == old

        c.status = consts.REBUILDING  # as zun-api's rebuild leaves it
        c.save(admin_context())
        mgr.container_rebuild(action_ctx(c, 'rebuild'), c, True)
        c = reload(c)
        assert c.status == consts.RUNNING, c.status_reason
        assert zunvmd_view(zunvmd, c)['mounts'][0]['source'] == new
        mgr.container_delete(action_ctx(c, 'delete'), reload(c), True)
    assert brick.calls[-1] == ('disconnect', vid, new, [])
    assert cinder.volumes[vid]['status'] == 'available'


def test_driver_list_names_and_zuns_own_drivers(volume_conf, zunvmd):
    """The drivers are found by the mapping's provider; Zun's own `cinder`/`local` (its
    default driver_list) are replaced by zunvm's; without them a create with volumes is a
    clear 400."""
    from zun.common import exception
    from zunvm_zun import driver as zdriver
    from zunvm_zun import volume as zvolume
    volume_conf.set_override('api_url', zunvmd.url, group='zunvm')
    for names in (DRIVER_LIST, ['cinder', 'local']):
        volume_conf.set_override('driver_list', names, group='volume')
        d = zdriver.ZunvmDriver()
        assert {p: type(v) for p, v in d.volume_drivers.items()} == {
            'cinder': zvolume.ZunvmCinder, 'local': zvolume.ZunvmLocal}
    volume_conf.set_override('driver_list', ['zunvm_local'], group='volume')
    d = zdriver.ZunvmDriver()
    ctx = admin_context()
    c = new_container(ctx)
    from zun import objects
    vm = objects.VolumeMapping(ctx, volume_provider='cinder', container_path='/d')
    with pytest.raises(exception.Invalid) as e:
        d.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, [], {c.uuid: [vm]})
    assert 'zunvm_cinder' in str(e.value)
    assert zvolume.ZunvmCinder().bind_mount(ctx, vm) is None
