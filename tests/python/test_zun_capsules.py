"""Capsules through Zun: zun-compute's real Manager and Zun's real objects, the zunvm driver's
create_capsule / delete_capsule / update_containers_states on a real zunvmd (fake sandbox
driver) and its /v1/capsules.

The capsules are made as zun-api's CapsuleController._do_post makes them (`api_capsule`: Zun's
own check_capsule_template and capsule_get_container_spec, then the same object fields), and
reach the manager as over RPC (fetched again, members lazy-loaded). Needs the real Zun
(ZUNVM_ZUN_SRC=<checkout>).
"""
import copy
import json
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
    import zun.conf
    from zun.common import consts
    from zun.common import utils
    from zun import objects
    CONF = zun.conf.CONF
    spec_content, template_json = _check_template(json.dumps(tpl))
    containers_spec, init_containers_spec = utils.capsule_get_container_spec(spec_content)
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
    new_capsule.cpu = need_cpu
    new_capsule.memory = str(need_memory)
    new_capsule.host = host
    new_capsule.save(ctx)
    return rpc_copy(new_capsule)


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


def test_capsule_volumes_are_refused_before_anything_is_made(driver, conf):
    from zun.common import exception
    ctx = admin_context()
    cap = api_capsule(ctx, template_with(), host=conf.host)
    member = cap.containers[0]
    with pytest.raises(exception.Invalid) as e:
        driver.create_capsule(ctx, cap, None, [], {member.uuid: ['a volume mapping']})
    assert 'volumes of capsules' in str(e.value) and e.value.code == 400
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
