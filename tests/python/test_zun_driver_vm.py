"""End to end: the zunvm Zun driver over a zunvmd that runs real VMs (libvirt driver).

The manager's sequence for `openstack appcontainer run` (pull_image, create, start), then
exec, logs, stop, start, update, stats and delete, as zun-compute calls them (in a VM, and
for runtime runc as host processes), and the periodic status sync noticing a VM that died; with the real Zun also a Cinder volume (test_zun_volumes.py's
fake Cinder and loop-device os-brick) written in the guest through zun-compute's Manager. Needs libvirtd and the guest image
(scripts/test.sh prepares both); ctest runs it as e2e_zun_driver_vm.
"""
import json
import os
import platform
import signal
import subprocess

import pytest

from conftest import eventually, new_container

from zun.common import consts

VIRSH = ['virsh', '-c', 'qemu:///system']


def domains():
    out = subprocess.run(VIRSH + ['list', '--name'], capture_output=True, text=True, timeout=60)
    return set(out.stdout.split())


@pytest.fixture(scope='module')
def vm_zunvmd():
    from zunvmd_proc import Zunvmd, remove_vm_state, vm_state_dir
    state = vm_state_dir('zvd-')
    d = Zunvmd(state_dir=state, driver='libvirt').start(timeout=60)
    yield d
    d.stop()
    remove_vm_state(state)


@pytest.fixture
def vm_driver(conf, vm_zunvmd):
    from zunvm_zun import driver as zdriver
    conf.set_override('api_url', vm_zunvmd.url, group='zunvm')
    conf.set_override('poll_interval', 0.2, group='zunvm')
    return zdriver.ZunvmDriver()


def test_run_exec_stop_start_delete_in_a_real_vm(vm_driver, ctx):
    d = vm_driver
    c = new_container(ctx, command=['sh', '-c', 'echo booted; trap "exit 0" TERM; '
                                    'while true; do sleep 1; done'], memory='256')
    # container_create: pull (already imported: ifnotpresent), then create.
    image, loaded = d.pull_image(ctx, 'busybox', 'latest', 'ifnotpresent', 'docker')
    assert loaded is True
    image['repo'], image['tag'] = 'busybox', 'latest'
    c.task_state = consts.CONTAINER_CREATING
    c = d.create(ctx, c, image, [], {c.uuid: []})
    c.task_state = None
    assert c.status == consts.CREATED and c.container_id == c.uuid
    assert 'zunvm-' + c.uuid in domains()  # the VM is up (booted at create)

    c = d.start(ctx, c)
    assert c.status == consts.RUNNING
    exec_id = d.execute_create(ctx, c, 'uname -r', False)
    out, code = d.execute_run(exec_id, 'uname -r')
    assert code == 0
    assert out.strip() and out.strip().decode() != platform.release()  # the guest's kernel
    logs = eventually(lambda: d.show_logs(ctx, c), lambda s: b'booted' in s, 60, 'logs')
    assert logs.startswith(b'booted')
    stats = d.stats(ctx, c)
    assert stats['MEM LIMIT(MiB)'] > 0

    c.memory = '384'
    d.update(ctx, c)
    assert c.status_reason in ('cpu/memory updated live',
                               'cpu/memory change applies at the next start')

    c = d.stop(ctx, c, 10)
    assert c.status == consts.STOPPED
    assert 'Exited(0)' in (c.status_detail or '')
    assert 'zunvm-' + c.uuid not in domains()
    c = d.start(ctx, c)
    assert c.status == consts.RUNNING

    res = d.get_available_resources()
    assert res['running_containers'] >= 1 and 'kata' in res['runtimes']

    d.delete(ctx, c, True)
    assert not d.check_container_exist(c)
    assert 'zunvm-' + c.uuid not in domains()


def test_runc_container_through_the_driver(vm_driver, ctx):
    """Zun's `runtime` chooses a trusted container (host processes under runc) on the same
    zunvmd: the host reports the runtime, and the container runs on the host's kernel."""
    d = vm_driver
    assert {'kata', 'runc', 'crun'} <= set(d.get_available_resources()['runtimes'])
    c = new_container(ctx, command=['sh', '-c', 'echo trusted; exec sleep 1000'], runtime='runc')
    c = d.create(ctx, c, {'repo': 'busybox', 'tag': 'latest', 'driver': 'docker'}, [], {})
    assert c.status == consts.CREATED
    assert 'zunvm-' + c.uuid not in domains()  # no VM
    c = d.start(ctx, c)
    assert c.status == consts.RUNNING
    exec_id = d.execute_create(ctx, c, 'uname -r', False)
    out, code = d.execute_run(exec_id, 'uname -r')
    assert (code, out.strip().decode()) == (0, platform.release())
    eventually(lambda: d.show_logs(ctx, c), lambda s: s.startswith(b'trusted'), 60, 'logs')
    c = d.stop(ctx, c, 10)
    assert c.status == consts.STOPPED
    d.delete(ctx, c, True)
    assert not d.check_container_exist(c)


def test_sync_marks_a_container_whose_vm_died(vm_driver, ctx, vm_zunvmd):
    from zun import objects
    d = vm_driver
    c = new_container(ctx, command=['sleep', '3600'])
    c = d.create(ctx, c, {'repo': 'busybox', 'tag': 'latest', 'driver': 'docker'}, [], {})
    c = d.start(ctx, c)
    c.save(ctx)
    pid_file = '/run/libvirt/qemu/zunvm-%s.pid' % c.uuid
    with open(pid_file) as f:
        os.kill(int(f.read().strip()), signal.SIGKILL)

    class Manager(object):
        def container_rebuild(self, context, container, run):
            raise AssertionError('no auto_heal: no rebuild')

    def synced():
        d.update_containers_states(ctx, objects.Container.list(ctx), Manager())
        return objects.Container.get_by_uuid(ctx, c.uuid)

    row = eventually(synced, lambda r: r.status == consts.ERROR, 60, 'sync to Error')
    assert 'stopped unexpectedly' in (row.status_reason or '')
    d.delete(ctx, row, True)
    assert 'zunvm-' + c.uuid not in domains()


def test_commit_of_a_running_container_as_zun_does(vm_driver, ctx, vm_zunvmd, glance, conf,
                                                   busybox_tar):
    """Issue 14 row 11: Zun's commit pauses a running container, commits it, unpauses it and
    uploads the image to Glance. Pause freezes the container in its guest, so the commit
    reaches its files. With the real Zun, zun-compute's own Manager does it."""
    import io
    import tarfile
    from conftest import USING_REAL_ZUN
    d = vm_driver
    c = new_container(ctx, command=['sleep', '3600'])
    c = d.create(ctx, c, {'repo': 'busybox', 'tag': 'latest', 'driver': 'docker'}, [], {})
    c = d.start(ctx, c)
    c.save(ctx)
    out, code = d.execute_run(d.execute_create(ctx, c, 'sh -c "echo vm-commit > /marker"'), None)
    assert code == 0, out
    if USING_REAL_ZUN:
        from test_zun_manager import action_ctx, real_manager, reload
        with real_manager(conf, vm_zunvmd, busybox_tar) as mgr:
            snapshot_id = mgr.container_commit(action_ctx(c, 'commit'), reload(c), 'vmsnap',
                                               'v1')['uuid']
        c = reload(c)
    else:
        from zun.image.glance import driver as glance_driver
        snapshot = d.create_image(ctx, 'vmsnap', glance_driver.GlanceDriver())
        snapshot_id = snapshot.id
        c = d.pause(ctx, c)
        assert c.status == consts.PAUSED
        d.commit(ctx, c, 'vmsnap', 'v1')
        data = d.get_image('vmsnap:v1')
        c = d.unpause(ctx, c)
        d.upload_image_data(ctx, snapshot, 'v1', data, glance_driver.GlanceDriver())
    assert c.status == consts.RUNNING
    assert glance.images[snapshot_id]['status'] == 'active'
    with tarfile.open(fileobj=io.BytesIO(glance.data[snapshot_id])) as t:
        manifest = json.load(t.extractfile('manifest.json'))
        layer = t.extractfile(manifest[0]['Layers'][0]).read()
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        assert t.extractfile([n for n in t.getnames() if n.lstrip('./') == 'marker'][0]).read() \
            == b'vm-commit\n'
    d.delete(ctx, c, True)
    d.delete_image(ctx, 'vmsnap:v1')


# ---- a Cinder volume through zun-compute's Manager into a real VM ------------------------------
# The volume fixtures of test_zun_volumes.py (a fake Cinder over HTTP, os-brick's connector as
# loop devices, zun-compute's real Manager) here run on the real-VM zunvmd.
from conftest import USING_REAL_ZUN  # noqa: E402
from test_zun_volumes import (action_ctx, brick, cinder, host_mounts, manager, reload, run,  # noqa: E402
                              volume_conf)

VOLUME_FIXTURES = (brick, cinder, host_mounts, manager, volume_conf)  # pytest finds them here


@pytest.fixture
def zunvmd(vm_zunvmd):
    return vm_zunvmd


@pytest.mark.skipif(not USING_REAL_ZUN, reason='needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)')
def test_cinder_volume_written_in_a_real_vm(manager, zunvmd, cinder, brick):
    import requests
    from conftest import admin_context
    ctx = admin_context()
    vid = cinder.add_volume(name='vmdata')
    backing = cinder.volumes[vid]['backing']
    c = run(manager, ctx, [{'source': 'vmdata', 'destination': '/data'}],
            command=['sleep', '100000'])
    dev = brick.connected[vid]
    assert 'zunvm-' + c.uuid in domains() or any(n.startswith('zunvm-pool-') for n in domains())
    r = requests.post(zunvmd.url + '/v1/containers/%s/execute?run=true' % c.uuid,
                      json={'command': "sh -c 'grep \" /data \" /proc/mounts; "
                                       "echo written-in-the-guest > /data/f && sync'"},
                      headers={'OpenStack-API-Version': 'container 1.40'}, timeout=120)
    assert r.status_code == 200 and r.json()['exit_code'] == 0, r.text
    assert ' /data ext4 rw' in r.json()['output']  # the Cinder device, mounted in the guest

    manager.container_delete(action_ctx(c, 'delete'), reload(c), True)
    # os-brick disconnected only once zunvmd had let the VM go: no container used the device
    assert brick.calls[-1] == ('disconnect', vid, dev, [])
    assert 'zunvm-' + c.uuid not in domains()
    # what the guest wrote is on the volume (read by the host straight off its backing file)
    out = subprocess.run(['debugfs', '-R', 'cat /f', backing], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout == 'written-in-the-guest\n', out.stderr
