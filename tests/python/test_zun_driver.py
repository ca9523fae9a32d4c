"""The zunvm Zun driver against a real zunvmd (fake sandbox driver: API level, no VMs).

Each test calls the driver the way zun-compute's manager does (same arguments, same object
handling) and checks both what the Zun container object says afterwards and what zunvmd
itself reports over its API.
"""
import io
import json
import os
import re
import tarfile

import uuid

import pytest
import requests

from conftest import admin_context, eventually, new_container, time_out_first_wait

from zun.common import consts
from zun.common import exception


def api(zunvmd, method, path, **kw):
    headers = {'OpenStack-API-Version': 'container 1.40'}
    return requests.request(method, zunvmd.url + '/v1' + path, headers=headers, timeout=30, **kw)


def zunvmd_view(zunvmd, uuid):
    r = api(zunvmd, 'GET', '/containers/' + uuid)
    return r.json() if r.status_code == 200 else None


def created(driver, ctx, **kw):
    c = new_container(ctx, **kw)
    c.task_state = consts.CONTAINER_CREATING  # as the manager's _update_task_state
    c.save(ctx)
    out = driver.create(ctx, c, {'repo': c.image, 'tag': 'latest', 'driver': 'docker'}, [],
                        {c.uuid: []})
    c.task_state = None
    c.save(ctx)
    return out


def started(driver, ctx, **kw):
    c = created(driver, ctx, **kw)
    c = driver.start(ctx, c)
    c.save(ctx)
    return c


def db_row(c):
    from zun import objects
    return objects.Container.get_by_uuid(admin_context(), c.uuid)


# --- loading -------------------------------------------------------------------------------

def test_entry_points_load_the_driver_as_zun_does(conf, zunvmd):
    from zun.container import driver as zun_driver
    conf.set_override('api_url', zunvmd.url, group='zunvm')
    conf.set_override('container_driver', 'zunvm')
    conf.set_override('capsule_driver', 'zunvm')
    try:
        d = zun_driver.load_container_driver()
        cap = zun_driver.load_capsule_driver()
    finally:
        conf.clear_override('container_driver')
        conf.clear_override('capsule_driver')
    assert type(d).__name__ == 'ZunvmDriver'
    assert isinstance(d, zun_driver.BaseDriver)
    assert isinstance(d, zun_driver.ContainerDriver)
    assert isinstance(cap, zun_driver.CapsuleDriver)
    assert d.capabilities == {}
    assert d.get_available_nodes() == [conf.host]


# --- life cycle ----------------------------------------------------------------------------

def test_create_passes_the_spec_and_leaves_created(driver, ctx, zunvmd):
    c = created(driver, ctx, environment={'A': 'b'}, labels={'tier': 'web'}, cpu=0.5,
                memory='300', workdir='/tmp', hostname='web1',
                restart_policy={'Name': 'on-failure', 'MaximumRetryCount': '2'},
                healthcheck={'test': 'true', 'interval': 5, 'retries': 2, 'timeout': 3},
                exposed_ports={'80/tcp': {}}, runtime='kata')
    assert c.container_id == c.uuid
    assert c.status == consts.CREATED
    row = db_row(c)
    assert row.status == consts.CREATED and row.container_id == c.uuid  # create() saved
    v = zunvmd_view(zunvmd, c.uuid)
    assert v['name'] == c.name
    assert v['status'] == 'Created'
    assert v['environment'] == {'A': 'b'} and v['labels'] == {'tier': 'web'}
    assert v['cpu'] == 0.5 and str(v['memory']).startswith('300')
    assert v['workdir'] == '/tmp' and v['hostname'] == 'web1'
    assert v['command'] == ['sh', '-c', 'echo hello; sleep 1000']
    assert v['restart_policy']['Name'] == 'on-failure'
    assert v['healthcheck']['test'] == 'true'
    assert v['runtime'] == 'kata'
    assert c.ports == [80]
    # Another runtime reaches zunvmd as Zun's container has it.
    other = created(driver, ctx, runtime='kata-debian')
    assert zunvmd_view(zunvmd, other.uuid)['runtime'] == 'kata-debian'
    assert other.runtime == 'kata-debian'
    # zunvmd's network address is kept in the annotations, not in `addresses`, which Zun
    # treats as Neutron ports (its rebuild looks each one up in Neutron).
    assert c.addresses == {} and db_row(c).addresses == {}
    kept = db_row(c).annotations['zunvm.addresses']
    assert kept == v['addresses'] and len(kept) == 1
    [addr] = list(kept.values())[0]
    assert addr['addr'].startswith('10.88.') and addr['version'] == 4 and addr['port']


def _zunvmd_addr(zunvmd, c):
    [entries] = list(zunvmd_view(zunvmd, c.uuid)['addresses'].values())
    return entries[0]['addr']


def test_rebuild_as_the_manager_does_keeps_the_address(driver, ctx, zunvmd):
    """Issue 14 row 4: Zun's rebuild is check_container_exist, delete(force) and create
    with the networks _get_network_info found in `addresses` (none in default mode)."""
    c = started(driver, ctx)
    before = _zunvmd_addr(zunvmd, c)
    c.task_state = consts.CONTAINER_REBUILDING
    c.status = consts.REBUILDING
    c.save(ctx)
    assert c.addresses == {}  # _get_network_info asks Neutron about nothing
    assert driver.check_container_exist(c)
    driver.delete(ctx, c, True)
    assert zunvmd_view(zunvmd, c.uuid) is None
    c = driver.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, [], {c.uuid: []})
    c = driver.start(ctx, c)
    assert c.status == consts.RUNNING and _zunvmd_addr(zunvmd, c) == before
    assert c.addresses == {}
    # Its address was taken meanwhile: the rebuilt container gets another one.
    [network] = list(zunvmd_view(zunvmd, c.uuid)['addresses'])
    driver.delete(ctx, c, True)
    squatter = api(zunvmd, 'POST', '/containers?run=false', json={
        'image': 'busybox', 'command': ['sleep', '1000'],
        'nets': [{'network': network, 'v4-fixed-ip': before}]})
    assert squatter.status_code == 202, squatter.text
    c = driver.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, [], {c.uuid: []})
    assert _zunvmd_addr(zunvmd, c) not in ('', before)
    api(zunvmd, 'DELETE', '/containers/%s?force=True' % squatter.json()['uuid'])
    driver.delete(ctx, c, True)


def _exit_reported_late(driver, reads=3):
    """zunvmd's view says Running for a few reads after a kill, as with a VM, which reports
    the exit a moment after the signal (the race seen under load)."""
    real_action, real_get = driver.api.action, driver.api.get
    late = {'reads': 0}

    def action(uuid_, name, **kw):
        out = real_action(uuid_, name, **kw)
        if name == 'kill':
            late['reads'] = reads
        return out

    def get(uuid_):
        view = real_get(uuid_)
        if late['reads'] > 0:
            late['reads'] -= 1
            view = dict(view, status='Running', task_state=None)
        return view
    driver.api.action, driver.api.get = action, get


def test_kill_without_a_signal_waits_until_the_container_stopped(driver, ctx, zunvmd):
    """Issue 14 row 5: zunclient sends the string 'None' for "no signal" (SIGKILL); kill
    returns once the container left Running."""
    _exit_reported_late(driver)
    for signal in ('None', None, 'SIGKILL', '9'):
        c = started(driver, ctx)
        c = driver.kill(ctx, c, signal)
        assert c.status == consts.STOPPED, signal
        assert zunvmd_view(zunvmd, c.uuid)['status'] == 'Stopped'
        driver.delete(ctx, c, True)


def test_start_stop_pause_unpause_reboot_kill(driver, ctx, zunvmd):
    c = started(driver, ctx)
    assert c.status == consts.RUNNING and c.status_reason is None
    assert zunvmd_view(zunvmd, c.uuid)['status'] == 'Running'

    c.task_state = consts.CONTAINER_PAUSING
    c = driver.pause(ctx, c)
    assert c.status == consts.PAUSED
    c = driver.unpause(ctx, c)
    assert c.status == consts.RUNNING

    c = driver.stop(ctx, c, 0)
    assert c.status == consts.STOPPED
    assert zunvmd_view(zunvmd, c.uuid)['status'] == 'Stopped'
    assert 'Exited' in (c.status_detail or '')

    c = driver.reboot(ctx, c, 5)
    assert c.status == consts.RUNNING

    c = driver.kill(ctx, c, 'SIGKILL')
    assert c.status == consts.STOPPED
    c = driver.start(ctx, c)
    assert c.status == consts.RUNNING
    c = driver.stop(ctx, c, None)
    assert c.status == consts.STOPPED


def test_wrong_state_is_a_conflict_and_the_object_keeps_its_state(driver, ctx):
    c = created(driver, ctx)
    with pytest.raises(exception.Conflict):
        driver.pause(ctx, c)
    assert c.status == consts.CREATED


def test_uncreated_container_is_invalid(driver, ctx):
    c = new_container(ctx)
    with pytest.raises(exception.Invalid):
        driver.start(ctx, c)
    assert driver.check_container_exist(c) is False
    assert driver.show(ctx, c) is c


def test_exec_logs_top_stats(driver, ctx):
    c = started(driver, ctx, command=['sh', '-c', 'echo hello; echo oops >&2; sleep 1000'])
    exec_id = driver.execute_create(ctx, c, 'sh -c "echo out; exit 3"', False)
    assert re.fullmatch('[0-9a-f]{64}', exec_id)  # Zun's API takes exec ids of 64 hex
    output, code = driver.execute_run(exec_id, 'sh -c "echo out; exit 3"')
    assert output == b'out\n' and code == 3
    with pytest.raises(exception.Invalid):  # an exec id runs once
        driver.execute_run(exec_id, 'true')
    with pytest.raises(exception.Invalid):
        driver.execute_resize('nope', 10, 10)

    logs = eventually(lambda: driver.show_logs(ctx, c), lambda s: b'oops' in s)
    assert b'hello\n' in logs
    assert driver.show_logs(ctx, c, stdout=True, stderr=False) == b'hello\n'
    assert driver.show_logs(ctx, c, tail='1') == b'oops\n'
    stamped = driver.show_logs(ctx, c, timestamps=True, tail='all', since=None)
    assert stamped.split(b' ', 1)[0].endswith(b'Z') or b'T' in stamped.split(b' ', 1)[0]

    top = driver.top(ctx, c, None)
    assert 'Titles' in top and top['Processes']
    stats = driver.stats(ctx, c)
    assert set(stats) >= {'CONTAINER', 'CPU %', 'MEM USAGE(MiB)', 'MEM LIMIT(MiB)', 'MEM %',
                          'BLOCK I/O(B)', 'NET I/O(B)'}


def test_consoles_as_zun_and_its_proxy_use_them(driver, ctx, zunvmd):
    # Attach: the URL zun-compute stores as websocket_url, opened as Zun's proxy does (no
    # credentials, no subprotocol); the fake driver's terminal echoes what is typed.
    import docker
    import websocket
    c = started(driver, ctx, command=['sh'], interactive=True, tty=True)
    url = driver.get_websocket_url(ctx, c)
    assert url.startswith(zunvmd.console_url + '/v1/console/containers/%s/attach?' % c.container_id)
    ws = websocket.create_connection(url, timeout=30)
    try:
        ws.send('echo attached\r')
        seen = b''
        while b'attached' not in seen:
            m = ws.recv()
            seen += m if isinstance(m, bytes) else m.encode()
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException):  # the ticket was used once
        websocket.create_connection(url, timeout=30)
    driver.resize(ctx, c, 30, 100)

    # Interactive exec: a 64-hex exec instance of zunvmd, resized by its id, started through
    # the console listener's Docker API exactly as zun-wsproxy does (docker-py, hijacked).
    exec_id = driver.execute_create(ctx, c, 'sh', interactive=True)
    assert re.fullmatch('[0-9a-f]{64}', exec_id)
    driver.execute_resize(exec_id, 24, 80)
    # As zun-wsproxy: APIClient(base_url=[docker] docker_remote_api_url), docker-py's default
    # API version, exec_start(socket=True, tty=True).
    api = docker.APIClient(base_url='tcp://' + zunvmd.console_url.split('//', 1)[1])
    sock = api.exec_start(exec_id, socket=True, tty=True)
    raw = getattr(sock, '_sock', sock)
    raw.settimeout(30)
    raw.sendall(b'stty size\r')
    seen = b''
    while b'24 80' not in seen:
        chunk = raw.recv(4096)
        assert chunk, seen
        seen += chunk
    driver.execute_resize(exec_id, 40, 120)
    raw.sendall(b'stty size\r')
    while b'40 120' not in seen:
        chunk = raw.recv(4096)
        assert chunk, seen
        seen += chunk
    raw.sendall(b'exit 0\r')
    raw.close()
    with pytest.raises(exception.Invalid):  # never created here
        driver.execute_resize('0' * 64, 24, 80)
    # A container that is not interactive has no console (zunvmd's 400, Zun's Invalid).
    with pytest.raises(exception.Invalid):
        driver.get_websocket_url(ctx, started(driver, ctx))


def test_exec_on_a_stopped_container_is_a_conflict(driver, ctx):
    c = created(driver, ctx)
    exec_id = driver.execute_create(ctx, c, 'true')
    with pytest.raises(exception.Conflict):
        driver.execute_run(exec_id, 'true')


def test_archives_round_trip(driver, ctx):
    c = started(driver, ctx)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        payload = bytes(range(256)) * 4
        info = tarfile.TarInfo('blob.bin')
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert driver.put_archive(ctx, c, '/tmp', buf.getvalue()) is True
    data, stat = driver.get_archive(ctx, c, '/tmp/blob.bin')
    assert stat['name'] == 'blob.bin' and stat['size'] == 1024
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.extractfile('blob.bin').read() == payload
    with pytest.raises(exception.ZunException) as e:
        driver.get_archive(ctx, c, '/no/such/file')
    assert e.value.code in (400, 404)


def test_update_changes_limits_in_zunvmd(driver, ctx, zunvmd):
    c = started(driver, ctx)
    c.memory = '512'
    c.cpu = 2.0
    c = driver.update(ctx, c)
    v = zunvmd_view(zunvmd, c.uuid)
    assert int(str(v['memory']).rstrip('M')) == 512 and v['cpu'] == 2.0
    with pytest.raises(exception.Invalid):
        c.memory = '1'
        driver.update(ctx, c)


def test_delete_removes_it_and_is_idempotent(driver, ctx, zunvmd):
    c = started(driver, ctx)
    with pytest.raises(exception.Conflict):
        driver.delete(ctx, c, False)  # running, not forced
    driver.delete(ctx, c, True)
    assert zunvmd_view(zunvmd, c.uuid) is None
    assert driver.check_container_exist(c) is False
    driver.delete(ctx, c, True)  # already gone: no error, as Docker's 404 is ignored


def test_show_reads_zunvmd_and_handles_a_vanished_container(driver, ctx, zunvmd):
    c = started(driver, ctx)
    api(zunvmd, 'POST', '/containers/%s/stop?timeout=0' % c.uuid)
    eventually(lambda: zunvmd_view(zunvmd, c.uuid)['status'], lambda s: s == 'Stopped')
    c = driver.show(ctx, c)
    assert c.status == consts.STOPPED

    c.task_state = consts.CONTAINER_STARTING  # a task in flight: show keeps Zun's status
    c.status = consts.CREATED
    api(zunvmd, 'DELETE', '/containers/' + c.uuid)
    eventually(lambda: zunvmd_view(zunvmd, c.uuid), lambda v: v is None)
    c.task_state = None
    c = driver.show(ctx, c)
    assert c.status == consts.ERROR
    assert 'No such container' in c.status_reason
    assert db_row(c).status == consts.ERROR


def test_create_failure_raises_a_docker_error_with_the_reason(driver, ctx):
    c = new_container(ctx, image='no-such-image-here', image_pull_policy='never')
    with pytest.raises(exception.ZunException) as e:
        driver.create(ctx, c, {'repo': 'no-such-image-here', 'tag': 'latest'}, [], {})
    assert e.value.code in (400, 404, 500)
    assert 'no-such-image-here' in str(e.value)


def test_a_create_failing_after_zunvmd_accepted_it_leaves_nothing_in_zunvmd(driver, ctx, zunvmd):
    """zun-compute unsets the host of a failed create and zun-api then destroys it without
    calling zun-compute: the driver itself removes what zunvmd made."""
    calls = time_out_first_wait(driver)
    c = new_container(ctx)
    with pytest.raises(exception.ZunException):
        driver.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, [], {c.uuid: []})
    assert calls == [c.uuid]
    assert zunvmd_view(zunvmd, c.uuid) is None


def test_uuid_taken_is_a_conflict(driver, ctx):
    c = created(driver, ctx)
    twin = new_container(ctx)
    twin.uuid = c.uuid
    with pytest.raises(exception.Conflict):
        driver.create(ctx, twin, {'repo': 'busybox', 'tag': 'latest'}, [], {})


def test_volumes_and_capsules_and_networks_are_refused_clearly(driver, ctx):
    import types
    c = new_container(ctx)
    with pytest.raises(exception.Invalid) as e:
        driver.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, [], {c.uuid: ['vol']})
    assert 'volumes' in str(e.value)
    # Capsules are offered (test_zun_capsules.py); their volumes need [volume] driver_list with
    # zunvm_cinder, as a container's do.
    member = types.SimpleNamespace(uuid=str(uuid.uuid4()), name='capsule-x-alpha-1')
    capsule = types.SimpleNamespace(uuid=str(uuid.uuid4()), init_containers=[],
                                    containers=[member])
    for call, words in ((lambda: driver.create_capsule(ctx, capsule, None, [],
                                                       {member.uuid: ['vol']}),
                         'volumes of capsules'),
                        (lambda: driver.network_attach(ctx, c, {}), 'networks')):
        with pytest.raises(exception.Invalid) as e:  # a clear 400 in Zun, not a DockerError's 500
            call()
        assert words in str(e.value)


# --- the periodic status sync ------------------------------------------------------------------

def test_list_and_update_containers_states(driver, ctx, zunvmd, conf):
    from zun import objects
    running = started(driver, ctx)
    stopped_behind = started(driver, ctx)
    gone = started(driver, ctx)
    gone_auto = started(driver, ctx, auto_remove=True)
    busy = started(driver, ctx)
    other_host = new_container(ctx, host='elsewhere', container_id='x' * 8, status='Running')
    creating = new_container(ctx)  # Creating, no container_id yet: skipped
    api(zunvmd, 'POST', '/containers/%s/stop?timeout=0' % stopped_behind.uuid)
    api(zunvmd, 'POST', '/containers/%s/stop?timeout=0' % busy.uuid)
    for g in (gone, gone_auto):
        api(zunvmd, 'DELETE', '/containers/%s?force=True' % g.uuid)
    eventually(lambda: [zunvmd_view(zunvmd, x.uuid) for x in (gone, gone_auto)],
                lambda vs: vs == [None, None])
    eventually(lambda: zunvmd_view(zunvmd, busy.uuid)['status'], lambda s: s == 'Stopped')
    eventually(lambda: zunvmd_view(zunvmd, stopped_behind.uuid)['status'],
                lambda s: s == 'Stopped')
    busy.task_state = consts.CONTAINER_REBOOTING
    busy.save(ctx)

    local, missing = driver.list(ctx)
    local_ids = {c.uuid for c in local}
    assert {running.uuid, stopped_behind.uuid, gone.uuid, creating.uuid} <= local_ids
    assert other_host.uuid not in local_ids
    missing_ids = {c.uuid for c in missing}  # earlier tests' leftovers may be there too
    assert {gone.uuid, gone_auto.uuid} <= missing_ids
    assert not {running.uuid, stopped_behind.uuid, busy.uuid, creating.uuid} & missing_ids

    class Manager(object):
        rebuilt = []

        def container_rebuild(self, context, container, run):
            self.rebuilt.append((container.uuid, run))

    # Between a rebuild's delete and its create (issue 14 row 7): not in zunvmd, not an error.
    rebuilding = new_container(ctx, container_id=str(uuid.uuid4()), status=consts.REBUILDING,
                               task_state=consts.CONTAINER_REBUILDING, auto_heal=True)
    all_containers = objects.Container.list(ctx)
    driver.update_containers_states(ctx, all_containers, Manager())
    assert db_row(rebuilding).status == consts.REBUILDING and not Manager.rebuilt
    assert db_row(stopped_behind).status == consts.STOPPED
    assert db_row(running).status == consts.RUNNING
    assert db_row(busy).status == consts.RUNNING  # task in flight: not overwritten
    assert db_row(gone).status == consts.ERROR
    assert 'No such container' in db_row(gone).status_reason
    assert db_row(gone_auto).status == consts.DELETED
    assert db_row(creating).status == 'Creating'
    assert db_row(other_host).status == 'Running'


def test_missing_auto_heal_container_is_rebuilt_by_the_manager(driver, ctx, zunvmd):
    """Issue 14 rows 6 and 8: the sync (containers, then capsules) asks for one rebuild, after
    recording the rebuild action its finish step needs."""
    from zun import objects
    c = started(driver, ctx, auto_heal=True)
    api(zunvmd, 'DELETE', '/containers/%s?force=True' % c.uuid)
    eventually(lambda: zunvmd_view(zunvmd, c.uuid), lambda v: v is None)
    calls = []

    class Manager(object):
        def container_rebuild(self, context, container, run):
            calls.append((container.uuid, run))

    # what Manager.sync_container_state does
    driver.update_containers_states(ctx, objects.Container.list(ctx), Manager())
    driver.update_containers_states(ctx, objects.Capsule.list(ctx), Manager())
    assert [call for call in calls if call[0] == c.uuid] == [(c.uuid, True)]
    actions = objects.ContainerAction.get_by_container_uuid(ctx, c.uuid)
    assert [a.action if hasattr(a, 'action') else a[1] for a in actions][-1] == 'rebuild'


# --- images and the host -------------------------------------------------------------------------

def test_images_pull_inspect_search_delete(driver, ctx, zunvmd, busybox_tar):
    tar = busybox_tar
    driver.load_image(tar)
    image, loaded = driver.pull_image(ctx, 'busybox', 'latest', 'ifnotpresent', 'docker')
    assert loaded is True and image['driver'] == 'docker' and image['path'] is None
    info = driver.inspect_image('busybox:latest')
    assert info['RepoTags'] == ['busybox:latest']
    assert info['Id'].startswith('sha256:') and info['Size'] > 0
    with pytest.raises(exception.ImageNotFound):
        driver.pull_image(ctx, 'nothere', 'latest', 'never', 'docker')
    with pytest.raises(exception.ImageNotFound):
        driver.inspect_image('nothere:latest')
    with pytest.raises(exception.Invalid):
        driver.pull_image(ctx, 'busybox', 'latest', 'always', 'glance')
    assert isinstance(driver.search_image(ctx, 'busybox', 'latest', 'docker', True), list)
    in_use = created(driver, ctx)
    with pytest.raises(exception.Conflict):
        driver.delete_image(ctx, info['zunvm_uuid'])
    assert driver.inspect_image('busybox:latest')['Id'] == info['Id']
    driver.delete(ctx, in_use, True)
    driver.delete_image(ctx, '0d4b2f6e-1c8a-4e7b-9b1f-6f0e2a3c4d5e', 'docker')  # absent: fine


def test_available_resources_describe_this_host(driver, conf):
    assert driver.get_cpu_allocation_ratio() == 16.0  # [compute] initial_* when unset
    assert driver.get_ram_allocation_ratio() == 1.5
    res = driver.get_available_resources()
    assert res['cpus'] == os.cpu_count()
    assert 'kata' in res['runtimes']
    assert res['disk_quota_supported'] is True and driver.node_support_disk_quota() is True
    assert res['mem_total'] > 0 and res['disk_total'] > 0
    assert isinstance(res['labels'], dict)
    assert hasattr(res['numa_topology'], 'nodes')
    assert res['architecture'] and res['os'] and res['kernel_version']
    for key in ('total_containers', 'running_containers', 'paused_containers',
                'stopped_containers'):
        assert isinstance(res[key], int)


def test_unreachable_zunvmd_is_a_docker_error(conf, ctx):
    from zunvm_zun import driver as zdriver
    conf.set_override('api_url', 'http://127.0.0.1:9', group='zunvm')
    try:
        d = zdriver.ZunvmDriver()
    finally:
        conf.clear_override('api_url', group='zunvm')
    c = new_container(ctx, container_id='abc')
    with pytest.raises(exception.DockerError) as e:
        d.show(ctx, c)
    assert 'did not answer' in str(e.value)


def test_hostile_percent_in_an_error_detail_does_not_break_the_exception(driver, ctx):
    c = started(driver, ctx)
    with pytest.raises(exception.ZunException) as e:
        driver.get_archive(ctx, c, '/100%done')
    assert '100%done' in str(e.value)


def _glance_driver():
    """Zun's concrete image driver (the stand-in copies its signatures)."""
    from zun.image.glance import driver as glance_driver
    return glance_driver.GlanceDriver()


def _layer_names(docker_save):
    with tarfile.open(fileobj=io.BytesIO(docker_save)) as t:
        manifest = json.load(t.extractfile('manifest.json'))
        layer = t.extractfile(manifest[0]['Layers'][0]).read()
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        return manifest[0]['RepoTags'], [n.lstrip('./') for n in t.getnames()]


def test_commit_then_upload_to_glance_as_the_manager_does(driver, ctx, busybox_tar, glance):
    """Issue 14 row 1: the manager passes zun.image.glance.driver.GlanceDriver, whose
    update_image takes disk_format=/container_format=/tag=."""
    driver.load_image(busybox_tar)
    c = started(driver, ctx)
    driver.put_archive(ctx, c, '/', _tar_of('marker.txt', b'committed'))
    snapshot = driver.create_image(ctx, 'snap', _glance_driver())
    assert glance.images[snapshot.id]['status'] == 'queued'
    c = driver.pause(ctx, c)  # the manager pauses a running container first
    image_id = driver.commit(ctx, c, 'snap', 'v1')
    c = driver.unpause(ctx, c)
    assert image_id and c.status == consts.RUNNING
    data = driver.get_image('snap:v1')
    driver.upload_image_data(ctx, snapshot, 'v1', data, _glance_driver())
    stored = glance.images[snapshot.id]
    assert (stored['container_format'], stored['disk_format'], stored['tags'],
            stored['status']) == ('docker', 'raw', ['v1'], 'active')
    assert glance.data[snapshot.id] == data
    tags, names = _layer_names(glance.data[snapshot.id])
    assert tags == ['snap:v1'] and 'marker.txt' in names
    assert driver.inspect_image('snap:v1')['RepoTags'] == ['snap:v1']
    driver.delete(ctx, c, True)
    driver.delete_image(ctx, image_id, 'docker')
    with pytest.raises(exception.ImageNotFound):
        driver.inspect_image('snap:v1')


def test_a_failed_upload_is_undone_in_glance_and_zunvmd(driver, ctx, busybox_tar, glance):
    """Issue 14 row 2: the manager's error handler calls delete_committed_image(ctx, id,
    GlanceDriver()) and then delete_image(ctx, <commit's id>, 'docker'). Neither may raise
    a TypeError, and a Glance that also fails the delete must not keep zunvmd's image."""
    driver.load_image(busybox_tar)
    c = started(driver, ctx)
    for glance_delete_fails in (False, True):
        glance.fail_upload, glance.fail_delete = True, glance_delete_fails
        snapshot = driver.create_image(ctx, 'undo', _glance_driver())
        image_id = driver.commit(ctx, c, 'undo', 'v1')
        data = driver.get_image('undo:v1')
        with pytest.raises(exception.ZunException):
            driver.upload_image_data(ctx, snapshot, 'v1', data, _glance_driver())
        # what zun.compute.manager.Manager._do_container_image_upload does next
        driver.delete_committed_image(ctx, snapshot.id, _glance_driver())
        driver.delete_image(ctx, image_id, 'docker')
        assert (snapshot.id in glance.images) is glance_delete_fails
        with pytest.raises(exception.ImageNotFound):
            driver.inspect_image('undo:v1')
    driver.delete(ctx, c, True)


def test_delete_image_by_the_id_zun_keeps(driver, ctx, busybox_tar, zunvmd):
    """Issue 14 row 3: the manager stores inspect_image()['Id'] (sha256:...) as the Zun
    image's image_id and deletes by it."""
    driver.load_image(busybox_tar)
    c = started(driver, ctx)
    driver.commit(ctx, c, 'byid', 'v1')
    driver.delete(ctx, c, True)
    info = driver.inspect_image('byid:v1')
    assert info['Id'].startswith('sha256:')
    driver.delete_image(ctx, info['Id'])
    with pytest.raises(exception.ImageNotFound):
        driver.inspect_image('byid:v1')
    assert api(zunvmd, 'GET', '/images/byid:v1').status_code == 404


def _tar_of(name, payload):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()
