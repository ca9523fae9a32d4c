"""Capsules through Zun: zun-compute's real Manager and Zun's real objects, the zunvm driver's
create_capsule / delete_capsule / update_containers_states on a real zunvmd (fake sandbox
driver) and its /v1/capsules.

The capsules are made as zun-api's CapsuleController._do_post makes them (`api_capsule`: Zun's
own check_capsule_template and capsule_get_container_spec, then the same object fields), and
reach the manager as over RPC (fetched again, members lazy-loaded). Needs the real Zun
(ZUNVM_ZUN_SRC=<checkout>); the Cinder volume tests also root (loop devices).
"""
import copy
import json
import os
import uuid

import pytest
import requests

from conftest import USING_REAL_ZUN, admin_context

pytestmark = pytest.mark.skipif(not USING_REAL_ZUN,
                                reason='needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)')

HEADERS = {'OpenStack-API-Version': 'container 1.40'}


# --- zun-api's side ---------------------------------------------------------------------------

def _zun_api_capsules():
    try:
        from zun.api.controllers.v1 import capsules
        return capsules
    except IndexError:  # unmaintained/zed's zun-api does not import on Python >= 3.11
        return None


def _check_template(tpl_text):
    """check_capsule_template (its JSON schema included, as the CLI sends a string)."""
    from oslo_serialization import jsonutils
    from zun.common import utils
    mod = _zun_api_capsules()
    if mod is not None:
        return mod.check_capsule_template(tpl_text)
    tpl = jsonutils.loads(tpl_text)
    spec = tpl['spec']
    if 'restartPolicy' in spec:
        spec['restart_policy'] = utils.VALID_CAPSULE_RESTART_POLICY[spec.pop('restartPolicy')]
    return spec, tpl


def _member_name(capsule):
    mod = _zun_api_capsules()
    if mod is not None:
        return mod.CapsuleController._generate_name_for_capsule_container(None, capsule)
    return 'capsule-%s-%s' % (capsule.name or capsule.uuid, uuid.uuid4().hex[:6])


def api_capsule(ctx, tpl, host=None):
    """A Capsule and its members in the DB as CapsuleController._do_post leaves them for
    zun-compute (policy: admin, so imagePullPolicy is kept), on `host` as the claim sets it."""
    return api_capsule_and_volumes(ctx, tpl, host)[0]


def api_capsule_and_volumes(ctx, tpl, host=None):
    """api_capsule, and zun-api's requested_volumes for it ({member uuid: [VolumeMapping]},
    from the template's spec.volumes / volumeMounts: its Cinder volumes must exist)."""
    import zun.conf
    from zun.common import consts
    from zun.common import utils
    from zun import objects
    CONF = zun.conf.CONF
    spec_content, template_json = _check_template(json.dumps(tpl))
    containers_spec, init_containers_spec = utils.capsule_get_container_spec(spec_content)
    volumes_spec = utils.capsule_get_volume_spec(spec_content)
    volume_requests = []
    new_capsule = objects.Capsule(ctx)
    new_capsule.project_id = ctx.project_id
    new_capsule.user_id = ctx.user_id
    new_capsule.status = consts.CREATING
    new_capsule.create(ctx)
    capsule_restart_policy = (spec_content.get('restart_policy') or
                              template_json.get('restart_policy', 'always'))
    container_restart_policy = {'MaximumRetryCount': '0', 'Name': capsule_restart_policy}
    new_capsule.restart_policy = container_restart_policy
    metadata_info = template_json.get('metadata', None)
    if metadata_info:
        new_capsule.name = metadata_info.get('name', None)
        new_capsule.labels = metadata_info.get('labels', None)
        new_capsule.annotations = metadata_info.get('annotations', None)
    new_capsule.save()
    new_capsule.image = CONF.sandbox_image
    new_capsule.image_driver = CONF.sandbox_image_driver
    need_cpu, need_memory = 0, 0
    for c in containers_spec:
        requests_ = (c.get('resources') or {}).get('requests') or {}
        need_cpu += requests_.get('cpu') or 0
        need_memory += requests_.get('memory') or 0
    for c in init_containers_spec:
        requests_ = (c.get('resources') or {}).get('requests') or {}
        need_cpu = max(need_cpu, requests_.get('cpu') or 0)
        need_memory = max(need_memory, requests_.get('memory') or 0)
    for container_spec in init_containers_spec + containers_spec:
        container_dict = container_spec
        container_dict['project_id'] = ctx.project_id
        container_dict['user_id'] = ctx.user_id
        container_dict['name'] = _member_name(new_capsule)
        if container_dict.get('args') and container_dict.get('command'):
            container_dict['command'] = container_dict['command'] + container_dict.pop('args')
        elif container_dict.get('args'):
            container_dict['command'] = container_dict.pop('args')
        if container_dict.get('ports'):
            container_dict['exposed_ports'] = {
                '%s/%s' % (p['containerPort'], p.get('protocol', 'tcp').lower()): {}
                for p in container_dict.pop('ports')}
        if container_dict.get('resources'):
            allocation = container_dict.pop('resources').get('requests')
            if allocation.get('cpu'):
                container_dict['cpu'] = allocation.get('cpu')
            if allocation.get('memory'):
                container_dict['memory'] = str(allocation['memory'])
        container_dict['image_pull_policy'] = (
            container_dict.get('image_pull_policy', 'always').lower())
        container_dict['status'] = consts.CREATING
        container_dict['capsule_id'] = new_capsule.id
        container_dict['restart_policy'] = container_restart_policy
        if container_spec in init_containers_spec:
            if capsule_restart_policy == 'always':
                container_dict['restart_policy'] = {'MaximumRetryCount': '10',
                                                    'Name': 'on-failure'}
            utils.check_for_restart_policy(container_dict)
            member = objects.CapsuleInitContainer(ctx, **container_dict)
        else:
            utils.check_for_restart_policy(container_dict)
            member = objects.CapsuleContainer(ctx, **container_dict)
        member.create(ctx)
        for mount in container_dict.get('volumeMounts') or []:
            mount['container_uuid'] = member.uuid
            volume_requests.append(mount)
    requested_volumes = _build_requested_volumes(ctx, volumes_spec, volume_requests,
                                                 new_capsule)
    new_capsule.cpu = need_cpu
    new_capsule.memory = str(need_memory)
    new_capsule.host = host
    new_capsule.save(ctx)
    return rpc_copy(new_capsule), requested_volumes


def _build_requested_volumes(ctx, volumes_spec, volume_requests, capsule):
    """CapsuleController._build_requested_volumes, or what it does (zed's zun-api does not
    import on Python >= 3.11) for volumes named by volumeID."""
    if not volumes_spec:
        return {}
    mod = _zun_api_capsules()
    if mod is not None:
        return mod.CapsuleController._build_requested_volumes(None, ctx, volumes_spec,
                                                              volume_requests, capsule)
    from zun import objects
    from zun.volume import cinder_api
    api = cinder_api.CinderAPI(ctx)
    out = {}
    for spec in volumes_spec:
        volume = api.search_volume(spec['cinder']['volumeID'])
        api.ensure_volume_usable(volume)
        volume_object = objects.Volume(ctx, cinder_volume_id=volume.id, volume_provider='cinder',
                                       user_id=ctx.user_id, project_id=ctx.project_id,
                                       auto_remove=False)
        volume_object.create(ctx)
        for item in volume_requests:
            if item['name'] == spec['name']:
                out.setdefault(item['container_uuid'], []).append(objects.VolumeMapping(
                    ctx, container_path=item['mountPath'], user_id=ctx.user_id,
                    project_id=ctx.project_id, volume_id=volume_object.id))
    return out


def rpc_copy(capsule):
    """The capsule as zun-compute gets it: from the DB, its members loaded on first use."""
    from zun import objects
    return objects.Capsule.get_by_uuid(admin_context(), capsule.uuid)


TEMPLATE = {
    'kind': 'capsule',
    'capsuleVersion': 'beta',
    'metadata': {'name': 'web', 'labels': {'app': 'web'}, 'annotations': {'team': 'a'}},
    'spec': {
        'restartPolicy': 'Never',
        'initContainers': [
            {'image': 'busybox', 'command': ['sh', '-c'], 'args': ['echo init > /shared'],
             'imagePullPolicy': 'IfNotPresent'},
        ],
        'containers': [
            {'image': 'busybox', 'command': ['sh', '-c', 'echo front; sleep 1000'],
             'env': {'ROLE': 'front'}, 'workDir': '/tmp',
             'resources': {'requests': {'cpu': 0.5, 'memory': 128}},
             'ports': [{'containerPort': 80, 'protocol': 'TCP'},
                       {'containerPort': 53, 'protocol': 'UDP'}],
             'imagePullPolicy': 'IfNotPresent', 'stdin': True, 'tty': True},
            {'image': 'busybox', 'args': ['sh', '-c', 'echo back; sleep 1000'],
             'imagePullPolicy': 'IfNotPresent'},
        ],
    },
}


def template_with(**spec):
    tpl = copy.deepcopy(TEMPLATE)
    tpl['metadata']['name'] = 'cap-' + uuid.uuid4().hex[:8]
    tpl['spec'].update(spec)
    return tpl


# --- the template, rebuilt from the objects (pure) --------------------------------------------

def test_template_is_rebuilt_from_the_objects_zun_api_made(conf):
    from zunvm_zun import capsule as zcapsule
    ctx = admin_context()
    cap = api_capsule(ctx, TEMPLATE)
    body = zcapsule.create_body(cap)
    assert body['uuid'] == cap.uuid
    assert body['members'] == [{'uuid': m.uuid, 'name': m.name}
                               for m in list(cap.init_containers) + list(cap.containers)]
    assert [m['name'].startswith('capsule-web-') for m in body['members']] == [True] * 3
    assert body['template'] == {
        'kind': 'capsule',
        'metadata': {'name': 'web', 'labels': {'app': 'web'}, 'annotations': {'team': 'a'}},
        'spec': {
            'restartPolicy': 'Never',
            'initContainers': [
                {'image': 'busybox', 'command': ['sh', '-c', 'echo init > /shared'],
                 'imagePullPolicy': 'IfNotPresent'}],
            'containers': [
                {'image': 'busybox', 'command': ['sh', '-c', 'echo front; sleep 1000'],
                 'env': {'ROLE': 'front'}, 'workDir': '/tmp',
                 'resources': {'requests': {'cpu': 0.5, 'memory': 128}},
                 'ports': [{'containerPort': 53, 'protocol': 'UDP'},
                           {'containerPort': 80, 'protocol': 'TCP'}],
                 'stdin': True, 'tty': True, 'imagePullPolicy': 'IfNotPresent'},
                {'image': 'busybox', 'command': ['sh', '-c', 'echo back; sleep 1000'],
                 'imagePullPolicy': 'IfNotPresent'}]}}
    json.dumps(body)  # plain JSON


def _member_fields(cap):
    keys = ('image', 'command', 'environment', 'workdir', 'cpu', 'memory', 'exposed_ports',
            'interactive', 'tty', 'image_pull_policy', 'restart_policy')
    return [{k: getattr(m, k) for k in keys}
            for m in list(cap.init_containers) + list(cap.containers)]


@pytest.mark.parametrize('policy', ['Always', 'OnFailure', 'Never'])
def test_the_rebuilt_template_makes_the_same_capsule_in_zun_api(conf, policy):
    """Round trip: Zun's API turns the rebuilt template (through its JSON schema) into the same
    capsule fields and members as the user's template."""
    from zunvm_zun import capsule as zcapsule
    ctx = admin_context()
    first = api_capsule(ctx, template_with(restartPolicy=policy))
    rebuilt = zcapsule.template(first)
    assert rebuilt['spec']['restartPolicy'] == policy
    rebuilt['metadata']['name'] = 'cap-' + uuid.uuid4().hex[:8]  # names are unique in Zun
    second = api_capsule(ctx, rebuilt)
    for key in ('restart_policy', 'labels', 'annotations', 'cpu', 'memory', 'image'):
        assert getattr(second, key) == getattr(first, key), key
    assert _member_fields(second) == _member_fields(first)


def test_members_without_optional_fields_send_only_the_image(conf):
    from zunvm_zun import capsule as zcapsule
    ctx = admin_context()
    cap = api_capsule(ctx, {'kind': 'capsule', 'metadata': {},
                            'spec': {'containers': [{'image': 'busybox'}]}})
    tpl = zcapsule.template(cap)
    # Zun's API default: restartPolicy Always, image_pull_policy always.
    assert tpl == {'kind': 'capsule', 'metadata': {},
                   'spec': {'restartPolicy': 'Always',
                            'containers': [{'image': 'busybox', 'imagePullPolicy': 'Always'}]}}


def test_capsule_volumes_without_zunvm_cinder_are_refused_before_anything_is_made(driver,
                                                                                 conf):
    """Cinder volumes of capsules go to zunvmd as the block devices zunvm_cinder connected;
    without it in [volume] driver_list (conftest's is empty) a clear 400, nothing made."""
    from zun import objects
    from zun.common import exception
    ctx = admin_context()
    cap = api_capsule(ctx, template_with(), host=conf.host)
    member = cap.containers[0]
    vm = objects.VolumeMapping(ctx, volume_provider='cinder', container_path='/d',
                               cinder_volume_id=str(uuid.uuid4()))
    with pytest.raises(exception.Invalid) as e:
        driver.create_capsule(ctx, cap, None, [], {member.uuid: [vm]})
    assert 'zunvm_cinder' in str(e.value) and e.value.code == 400
    assert capsule_view(driver_url(driver), cap.uuid) is None


# --- through zun-compute's Manager on zunvmd ---------------------------------------------------

def driver_url(driver):
    return driver.api.base[:-len('/v1')]


def capsule_view(url, uuid_):
    r = requests.get(url + '/v1/capsules/' + uuid_, headers=HEADERS, timeout=30)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def container_status(url, uuid_):
    r = requests.get(url + '/v1/containers/' + uuid_, headers=HEADERS, timeout=30)
    return r.json()['status'] if r.status_code == 200 else r.status_code


@pytest.fixture
def manager(conf, zunvmd, busybox_tar, registry):
    from test_zun_manager import real_manager
    # zun-compute pulls [DEFAULT] sandbox_image (kubernetes/pause, from Docker Hub, which
    # is out of reach here) before create_capsule: the driver answers without pulling it.
    with real_manager(conf, zunvmd, busybox_tar) as mgr:
        yield mgr


def action_ctx(c, name):
    from test_zun_manager import action_ctx as start
    return start(c, name)


def created_capsule(manager, conf, tpl=None):
    ctx = admin_context()
    cap = api_capsule(ctx, tpl or template_with(), host=conf.host)
    manager.container_create(action_ctx(cap, 'create'), None, [], {}, cap, False)
    return rpc_copy(cap)


def members_of(cap):
    return list(cap.init_containers) + list(cap.containers)


def test_create_through_the_manager_runs_the_capsule_and_its_members(manager, conf, zunvmd):
    from zun.common import consts
    cap = created_capsule(manager, conf)
    assert cap.status == consts.RUNNING, cap.status_reason
    assert cap.task_state is None and cap.host == conf.host
    assert cap.container_id == cap.uuid
    [init] = cap.init_containers
    front, back = cap.containers
    # zunvmd has it, its members under Zun's uuids and names, in the capsule's order.
    view = capsule_view(zunvmd.url, cap.uuid)
    assert view['status'] == 'Running'
    assert [(m['uuid'], m['name']) for m in view['init_containers']] == [(init.uuid, init.name)]
    assert [(m['uuid'], m['name']) for m in view['containers']] == [
        (front.uuid, front.name), (back.uuid, back.name)]
    # Saved: the members' statuses (the init container ran to its end), ids, host, addresses.
    assert init.status == consts.STOPPED
    assert (front.status, back.status) == (consts.RUNNING, consts.RUNNING)
    for m in members_of(cap):
        assert m.container_id == m.uuid and m.host == conf.host
    assert cap.addresses == view['addresses']
    # zunvmd's member view of what the template asked.
    r = requests.get(zunvmd.url + '/v1/containers/' + front.uuid, headers=HEADERS, timeout=30)
    fv = r.json()
    assert fv['command'] == ['sh', '-c', 'echo front; sleep 1000']
    assert fv['environment'] == {'ROLE': 'front'} and fv['workdir'] == '/tmp'
    assert fv['interactive'] is True and fv['tty'] is True
    # Members work as containers through the driver.
    assert b'front' in manager.capsule_driver.show_logs(admin_context(), front)
    manager.container_delete(action_ctx(cap, 'delete'), rpc_copy(cap), True)


def test_sync_reflects_what_zunvmd_reports(manager, conf, zunvmd):
    from zun.common import consts
    from zun.common import exception
    cap = created_capsule(manager, conf)
    back = cap.containers[1]
    r = requests.post(zunvmd.url + '/v1/containers/%s/stop?timeout=0' % back.uuid,
                      headers=HEADERS, timeout=30)
    assert r.status_code == 202, r.text
    manager.driver.api.wait(back.uuid, lambda v: v['status'] == 'Stopped', 20)
    manager.sync_container_state(admin_context())
    cap = rpc_copy(cap)
    assert cap.containers[1].status == consts.STOPPED
    assert cap.containers[0].status == consts.RUNNING
    assert cap.status == capsule_view(zunvmd.url, cap.uuid)['status']

    # A capsule zunvmd lost: Error, its members too.
    r = requests.delete(zunvmd.url + '/v1/capsules/' + cap.uuid, headers=HEADERS, timeout=30)
    assert r.status_code == 204, r.text
    deadline_wait(lambda: capsule_view(zunvmd.url, cap.uuid) is None)
    manager.sync_container_state(admin_context())
    cap = rpc_copy(cap)
    assert cap.status == consts.ERROR
    assert cap.status_reason == 'No such capsule: %s in zunvmd' % cap.uuid
    assert {m.status for m in members_of(cap)} == {consts.ERROR}
    # ... and can still be deleted through the manager.
    manager.container_delete(action_ctx(cap, 'delete'), cap, True)
    with pytest.raises(exception.ContainerNotFound):
        rpc_copy(cap)


def deadline_wait(fn, timeout=20):
    import time
    end = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < end, 'timed out'
        time.sleep(0.05)


def test_delete_through_the_manager_waits_until_zunvmd_forgot_it(manager, conf, zunvmd):
    from zun.common import consts
    from zun.common import exception
    cap = created_capsule(manager, conf)
    uuids = [m.uuid for m in members_of(cap)]
    cap.task_state = consts.CONTAINER_DELETING  # as zun-api's delete leaves it
    cap.save(admin_context())
    deleted = []
    real_delete = manager.capsule_driver.delete_capsule

    def recording_delete(context, capsule, force=False):
        real_delete(context, capsule, force)
        # returns only once zunvmd answers 404
        deleted.append((capsule_view(zunvmd.url, capsule.uuid),
                        [container_status(zunvmd.url, u) for u in uuids]))
    manager.capsule_driver.delete_capsule = recording_delete
    manager.container_delete(action_ctx(cap, 'delete'), cap, True)
    assert deleted == [(None, [404, 404, 404])]
    with pytest.raises(exception.ContainerNotFound):
        rpc_copy(cap)
    # a capsule zunvmd never had is deleted all the same
    ghost = api_capsule(admin_context(), template_with(), host=conf.host)
    manager.container_delete(action_ctx(ghost, 'delete'), ghost, True)
    with pytest.raises(exception.ContainerNotFound):
        rpc_copy(ghost)


def test_a_member_cannot_be_deleted_alone(manager, conf, zunvmd):
    cap = created_capsule(manager, conf)
    r = requests.delete(zunvmd.url + '/v1/containers/' + cap.containers[0].uuid,
                        headers=HEADERS, timeout=30)
    assert r.status_code == 409, r.text
    manager.container_delete(action_ctx(cap, 'delete'), rpc_copy(cap), True)


def test_a_failing_init_container_puts_the_capsule_in_error(manager, conf, zunvmd):
    from zun.common import consts
    ctx = admin_context()
    tpl = template_with(initContainers=[
        {'image': 'busybox', 'command': ['sh', '-c', 'echo setting up; exit 3'],
         'imagePullPolicy': 'IfNotPresent'}])
    cap = api_capsule(ctx, tpl, host=conf.host)
    with pytest.raises(Exception) as e:
        manager.container_create(action_ctx(cap, 'create'), None, [], {}, cap, False)
    cap = rpc_copy(cap)
    [init] = cap.init_containers
    assert cap.status == consts.ERROR
    assert init.name in cap.status_reason and '3' in cap.status_reason, cap.status_reason
    assert init.name in str(e.value)
    assert cap.host is None  # the manager's failed create: zun-api deletes it without us
    # Undone in zunvmd; the members' outcome saved.
    assert capsule_view(zunvmd.url, cap.uuid) is None
    assert init.status in (consts.STOPPED, consts.ERROR)
    assert {m.status for m in cap.containers} == {consts.ERROR}


def test_a_template_zunvmd_refuses_is_a_clear_400(manager, conf, zunvmd):
    """Zun takes ports on init containers; zunvmd does not (its 400 becomes Invalid)."""
    from zun.common import consts
    ctx = admin_context()
    tpl = template_with(initContainers=[
        {'image': 'busybox', 'command': ['true'], 'ports': [{'containerPort': 8080}]}])
    cap = api_capsule(ctx, tpl, host=conf.host)
    with pytest.raises(Exception) as e:
        manager.container_create(action_ctx(cap, 'create'), None, [], {}, cap, False)
    assert type(e.value).__name__ == 'Invalid', repr(e.value)
    cap = rpc_copy(cap)
    assert cap.status == consts.ERROR and 'port' in cap.status_reason
    assert capsule_view(zunvmd.url, cap.uuid) is None


# --- Cinder volumes: zunvm_cinder's host block devices as the capsule's disks -------------------
# zun-api's spec.volumes / volumeMounts, attached by zun-compute's manager through zunvm_cinder
# (os-brick connects each volume on the host: loop devices here; Cinder behind the real
# cinderclient), as tests/python/test_zun_volumes.py does for containers.

import test_zun_volumes  # noqa: E402  (its fixtures, shared)
brick = test_zun_volumes.brick
host_mounts = test_zun_volumes.host_mounts
volume_conf = test_zun_volumes.volume_conf
cinder = test_zun_volumes.cinder

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root for loop devices')


@pytest.fixture
def vmanager(volume_conf, zunvmd, busybox_tar, registry, cinder, brick, host_mounts):
    """zun-compute's Manager with [volume] driver_list = zunvm_cinder,zunvm_local; the
    capsule driver's POST bodies in `sent`, brick.calls marked where delete_capsule returned
    (with zunvmd's capsule view then), and at each disconnect the capsules zunvmd had."""
    from test_zun_manager import real_manager
    with real_manager(volume_conf, zunvmd, busybox_tar) as mgr:
        drv = mgr.capsule_driver
        drv.sent = []
        request = drv.api.request

        def recording_request(method, path, **kw):
            if method == 'POST' and path == '/capsules':
                drv.sent.append(copy.deepcopy(kw.get('body')))
            return request(method, path, **kw)
        drv.api.request = recording_request
        real_delete = drv.delete_capsule

        def recording_delete(context, capsule, force=False):
            real_delete(context, capsule, force)
            brick.calls.append(('capsule deleted', capsule_view(zunvmd.url, capsule.uuid)))
        drv.delete_capsule = recording_delete
        # at each os-brick disconnect: the capsules POSTed that zunvmd still has
        mgr.in_zunvmd_at_disconnect = []
        disconnect = brick.disconnect_volume

        def watched_disconnect(*args, **kw):
            mgr.in_zunvmd_at_disconnect.append(
                [b['uuid'] for b in drv.sent if capsule_view(zunvmd.url, b['uuid'])])
            return disconnect(*args, **kw)
        brick.disconnect_volume = watched_disconnect
        yield mgr


def volume_template(shared, init_only, **spec):
    """The init container mounts `init_only` (a volume id, or a `cinder` spec) at /seed; both
    containers mount `shared`, at /data and /srv/data."""
    tpl = template_with(**spec)
    seed = init_only if isinstance(init_only, dict) else {'volumeID': init_only}
    tpl['spec']['volumes'] = [{'name': 'shared', 'cinder': {'volumeID': shared}},
                              {'name': 'seed', 'cinder': seed}]
    for init in tpl['spec']['initContainers']:
        init['volumeMounts'] = [{'name': 'seed', 'mountPath': '/seed'}]
    front, back = tpl['spec']['containers']
    front['volumeMounts'] = [{'name': 'shared', 'mountPath': '/data'}]
    back['volumeMounts'] = [{'name': 'shared', 'mountPath': '/srv/data'}]
    return tpl


def block_mount(dev, vid, destination):
    return {'type': 'block', 'source': dev, 'serial': vid[:20], 'destination': destination,
            'read_only': False}


def capsule_with_volumes(vmanager, conf, cinder):
    """A capsule whose init container mounts one new Cinder volume ("seed") and whose two
    containers mount another ("shared"), created through the manager (Running)."""
    import types
    from zun.common import consts
    ctx = admin_context()
    shared, seed = cinder.add_volume(name='shared'), cinder.add_volume()
    cap, requested = api_capsule_and_volumes(ctx, volume_template(shared, seed), host=conf.host)
    assert sorted(len(v) for v in requested.values()) == [1, 1, 1]  # one per (member, mount)
    vmanager.container_create(action_ctx(cap, 'create'), None, [], requested, cap, False)
    cap = rpc_copy(cap)
    assert cap.status == consts.RUNNING and cap.task_state is None, cap.status_reason
    [init] = cap.init_containers
    front, back = cap.containers
    return types.SimpleNamespace(cap=cap, init=init, front=front, back=back, shared=shared,
                                 seed=seed)


def delete_through_the_manager(vmanager, cap):
    from zun.common import consts
    from zun.common import exception
    cap.task_state = consts.CONTAINER_DELETING  # as zun-api's delete leaves it
    cap.save(admin_context())
    vmanager.container_delete(action_ctx(cap, 'delete'), cap, True)
    with pytest.raises(exception.ContainerNotFound):
        rpc_copy(cap)


def test_volumes_in_the_body_read_only_and_names_of_one_prefix(conf):
    """The POST's volumes from zunvm_cinder's mappings (no zunvmd): a read-only attachment
    (access_mode ro) is a readOnly volumeMount; two volumes whose ids share their first 12
    characters get distinct names; one member may mount a volume twice."""
    from zun import objects
    from zunvm_zun import capsule as zcapsule
    from zunvm_zun import volume as zvolume
    ctx = admin_context()
    cap = api_capsule(ctx, template_with(), host=conf.host)
    [init] = cap.init_containers
    front, back = cap.containers
    a = str(uuid.uuid4())
    b = a[:12] + str(uuid.uuid4())[12:]

    def volmap(vid, path, dev, mode='rw'):
        info = {'data': {'device_path': dev, 'access_mode': mode}}
        return objects.VolumeMapping(ctx, volume_provider='cinder', cinder_volume_id=vid,
                                     container_path=path, connection_info=json.dumps(info))
    requested = {front.uuid: [volmap(a, '/a', '/dev/loop7'), volmap(a, '/a2', '/dev/loop7')],
                 back.uuid: [volmap(b, '/b', '/dev/loop8', 'ro')]}
    vols = zcapsule.CapsuleVolumes({'cinder': zvolume.ZunvmCinder()}, cap, requested)
    body = zcapsule.create_body(cap, vols)
    spec = body['template']['spec']
    assert spec['volumes'] == [{'name': 'v-' + a[:12], 'cinder': {'volumeID': a}},
                               {'name': 'v-' + b, 'cinder': {'volumeID': b}}]
    assert 'volumeMounts' not in spec['initContainers'][0]
    assert [c['volumeMounts'] for c in spec['containers']] == [
        [{'name': 'v-' + a[:12], 'mountPath': '/a'}, {'name': 'v-' + a[:12], 'mountPath': '/a2'}],
        [{'name': 'v-' + b, 'mountPath': '/b', 'readOnly': True}]]
    assert body['block_volumes'] == {
        'v-' + a[:12]: {'device_path': '/dev/loop7', 'serial': a[:20]},
        'v-' + b: {'device_path': '/dev/loop8', 'serial': b[:20]}}
    _check_template(json.dumps(body['template']))  # Zun's schema takes the names
    # without volumes the body is as before
    assert 'block_volumes' not in zcapsule.create_body(
        cap, zcapsule.CapsuleVolumes({}, cap, {}))


@needs_root
def test_cinder_volumes_shared_by_members_through_the_manager(vmanager, conf, zunvmd, cinder,
                                                              brick, host_mounts):
    from zun import objects
    from zunvm_zun.driver import ZunvmError
    ctx = admin_context()
    k = capsule_with_volumes(vmanager, conf, cinder)
    cap, init, front, back, shared, seed = k.cap, k.init, k.front, k.back, k.shared, k.seed
    # os-brick connected each volume once (the manager attaches a shared one for its first
    # member only), before zunvmd's create; nothing is mounted on the host.
    sdev, ddev = brick.connected[shared], brick.connected[seed]
    assert [c[:3] for c in brick.calls] == [('connect', seed, ddev), ('connect', shared, sdev)]
    assert host_mounts == []

    # The POST: each volume once in the template, by name, the members' volumeMounts on it,
    # and its host device and serial in block_volumes.
    [body] = vmanager.capsule_driver.sent
    sname, dname = 'v-' + shared[:12], 'v-' + seed[:12]
    tpl = body['template']
    assert tpl['spec']['volumes'] == [{'name': dname, 'cinder': {'volumeID': seed}},
                                      {'name': sname, 'cinder': {'volumeID': shared}}]
    assert tpl['spec']['initContainers'][0]['volumeMounts'] == [
        {'name': dname, 'mountPath': '/seed'}]
    assert [c['volumeMounts'] for c in tpl['spec']['containers']] == [
        [{'name': sname, 'mountPath': '/data'}], [{'name': sname, 'mountPath': '/srv/data'}]]
    assert body['block_volumes'] == {sname: {'device_path': sdev, 'serial': shared[:20]},
                                     dname: {'device_path': ddev, 'serial': seed[:20]}}
    _check_template(json.dumps(tpl))  # still a template Zun's API takes

    # zunvmd: each member mounts its volume where the template says.
    view = capsule_view(zunvmd.url, cap.uuid)
    assert view['status'] == 'Running'
    mounts = {m['uuid']: m['mounts'] for m in view['init_containers'] + view['containers']}
    assert {u: [m['destination'] for m in ms] for u, ms in mounts.items()} == {
        init.uuid: ['/seed'], front.uuid: ['/data'], back.uuid: ['/srv/data']}
    # Cinder: attached once each, on this host, to the first member that mounts it.
    for vid, dev, first in ((shared, sdev, front), (seed, ddev, init)):
        vol = cinder.volumes[vid]
        assert cinder.calls_for(vid) == ['os-reserve', 'os-initialize_connection', 'os-attach']
        assert vol['status'] == 'in-use'
        assert [(a['server_id'], a['host_name'], a['device']) for a in vol['attachments']] == [
            (first.uuid, conf.host, dev)]

    # Not disconnected while zunvmd has the capsule (its members are zunvmd's containers).
    [back_map] = objects.VolumeMapping.list_by_container(ctx, back.uuid)
    with pytest.raises(ZunvmError):
        vmanager.capsule_driver.detach_volume(ctx, back_map)
    assert [c[0] for c in brick.calls] == ['connect', 'connect']

    delete_through_the_manager(vmanager, cap)
    # delete_capsule returned once zunvmd answered 404; only then os-brick disconnected each
    # volume, once, and Cinder detached it.
    assert [c[:3] for c in brick.calls[2:]] == [('capsule deleted', None),
                                                ('disconnect', seed, ddev),
                                                ('disconnect', shared, sdev)]
    assert vmanager.in_zunvmd_at_disconnect == [[], []]
    for vid in (shared, seed):
        assert cinder.calls_for(vid)[3:] == ['os-begin_detaching', 'os-terminate_connection',
                                             'os-detach']
        vol = cinder.volumes[vid]
        assert (vol['status'], vol['attachments']) == ('available', [])
    for m in (init, front, back):
        assert objects.VolumeMapping.list_by_container(ctx, m.uuid) == []
    assert brick.connected == {}


@needs_root
def test_zunvmd_shows_each_member_s_volume_as_a_block_mount(vmanager, conf, zunvmd, cinder,
                                                            brick):
    """zunvmd's capsule view: each member that mounts a Cinder volume has it as a `block`
    mount (the host device and serial, as a container's), both containers the same device."""
    k = capsule_with_volumes(vmanager, conf, cinder)
    sdev, ddev = brick.connected[k.shared], brick.connected[k.seed]
    view = capsule_view(zunvmd.url, k.cap.uuid)
    mounts = {m['uuid']: m['mounts'] for m in view['init_containers'] + view['containers']}
    try:
        assert mounts == {k.init.uuid: [block_mount(ddev, k.seed, '/seed')],
                          k.front.uuid: [block_mount(sdev, k.shared, '/data')],
                          k.back.uuid: [block_mount(sdev, k.shared, '/srv/data')]}
    finally:
        delete_through_the_manager(vmanager, k.cap)


@needs_root
def test_a_failed_capsule_with_volumes_releases_them(vmanager, conf, zunvmd, cinder, brick):
    """An init container that fails: the capsule is Error and gone from zunvmd, and the manager
    disconnects and detaches its volumes afterwards; a volume zun-api made for the capsule
    (`size`, `autoRemove`) is deleted."""
    from zun.common import consts
    ctx = admin_context()
    shared = cinder.add_volume()
    tpl = volume_template(shared, {'size': 1, 'autoRemove': True}, initContainers=[
        {'image': 'busybox', 'command': ['sh', '-c', 'exit 3'],
         'imagePullPolicy': 'IfNotPresent'}])
    cap, requested = api_capsule_and_volumes(ctx, tpl, host=conf.host)
    [seed] = [v for v in cinder.volumes if v != shared]
    with pytest.raises(Exception):
        vmanager.container_create(action_ctx(cap, 'create'), None, [], requested, cap, False)
    cap = rpc_copy(cap)
    assert cap.status == consts.ERROR and cap.host is None
    assert cap.init_containers[0].name in cap.status_reason, cap.status_reason  # zunvmd ran it
    assert capsule_view(zunvmd.url, cap.uuid) is None
    assert sorted(c[0] for c in brick.calls) == ['connect', 'connect', 'disconnect',
                                                 'disconnect']
    assert vmanager.in_zunvmd_at_disconnect == [[], []]  # each after zunvmd forgot it
    assert brick.connected == {}
    vol = cinder.volumes[shared]
    assert (vol['status'], vol['attachments']) == ('available', [])
    assert seed not in cinder.volumes and cinder.calls_for(seed)[-1] == 'delete'


# --- OpenStack mode ([zunvm] use_neutron): the capsule's Neutron ports --------------------------

@pytest.fixture(scope='module')
def ovs_zunvmd():
    from zunvmd_proc import Zunvmd
    d = Zunvmd(driver='fake', config_text='[network]\novs_bridge = br-int\n').start()
    yield d
    d.stop()
    d.cleanup()


@pytest.fixture
def neutron():
    from test_zun_driver_neutron import FakeNeutron
    return FakeNeutron()


@pytest.fixture
def ndriver(conf, ovs_zunvmd, neutron, busybox_tar):
    """The driver as zun-compute's capsule driver in OpenStack mode, its POSTs recorded."""
    from zunvm_zun import driver as zdriver
    conf.set_override('api_url', ovs_zunvmd.url, group='zunvm')
    conf.set_override('use_neutron', True, group='zunvm')
    d = zdriver.ZunvmDriver()
    d.load_image(busybox_tar)
    d._neutron_api = lambda context: neutron
    d.sent = []
    request = d.api.request

    def recording_request(method, path, **kw):
        if method == 'POST' and path == '/capsules':
            d.sent.append(kw.get('body'))
        return request(method, path, **kw)
    d.api.request = recording_request
    yield d
    conf.clear_override('use_neutron', group='zunvm')


def test_openstack_mode_plugs_the_capsule_s_ports_and_releases_them(ndriver, conf, ovs_zunvmd,
                                                                     neutron):
    from test_zun_driver_neutron import NET, SUBNET, requested
    from zun.common import consts
    ctx = admin_context()
    cap = api_capsule(ctx, template_with(), host=conf.host)
    cap.task_state = consts.CONTAINER_CREATING
    cap = ndriver.create_capsule(ctx, cap, None, [requested(NET)], {})
    [port_id] = neutron.ports
    assert neutron.calls == [(NET, 'compute:zunvm', True, conf.host, None)]
    [entry] = ndriver.sent[-1]['nets']
    assert entry['port'] == port_id and entry['fixed_ips'][0]['ip_address'] == '10.0.7.11'
    view = capsule_view(ovs_zunvmd.url, cap.uuid)
    assert view['status'] == 'Running'
    assert view['addresses'] == {NET: [{'addr': '10.0.7.11', 'version': 4, 'port': port_id,
                                        'subnet_id': SUBNET, 'preserve_on_delete': False}]}
    # Zun keeps Neutron's whole list (IPv6 too) on the capsule and its members, saved.
    saved = rpc_copy(cap)
    for obj in [saved] + members_of(saved):
        assert [a['addr'] for a in obj.addresses[NET]] == ['10.0.7.11', 'fd00::11']
    assert saved.status == consts.RUNNING
    ndriver.delete_capsule(ctx, saved, True)
    assert capsule_view(ovs_zunvmd.url, cap.uuid) is None
    assert neutron.deleted == [port_id] and neutron.ports == {}


def test_openstack_mode_a_failed_create_releases_the_ports(ndriver, conf, ovs_zunvmd, neutron):
    from test_zun_driver_neutron import NET, requested
    from zun.common import exception
    ctx = admin_context()
    tpl = template_with(initContainers=[{'image': 'busybox', 'command': ['false'],
                                         'imagePullPolicy': 'IfNotPresent'}])
    cap = api_capsule(ctx, tpl, host=conf.host)
    with pytest.raises(exception.DockerError) as e:  # the manager's "Docker" failure
        ndriver.create_capsule(ctx, cap, None, [requested(NET)], {})
    assert cap.init_containers[0].name in str(e.value)
    assert len(neutron.deleted) == 1 and neutron.ports == {}
    assert rpc_copy(cap).addresses == {}
    assert capsule_view(ovs_zunvmd.url, cap.uuid) is None
