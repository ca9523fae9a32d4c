"""OpenStack mode of the Zun driver ([zunvm] use_neutron): Neutron ports for the requested
networks, plugged by a real zunvmd (fake sandbox driver, [network] ovs_bridge set).

Neutron itself is a fake here (FakeNeutron, with the methods of Zun's NeutronAPI the driver
uses); everything on zunvmd's side is real: what it stored is read back over its API.
"""
import sys
import types
import uuid

import pytest
import requests

from conftest import new_container, time_out_first_wait

from zun.common import consts
from zun.common import exception

NET = str(uuid.uuid4())
NET2 = str(uuid.uuid4())
SUBNET = str(uuid.uuid4())
SUBNET6 = str(uuid.uuid4())


class FakeNeutron:
    """Ports in a dict; fixed IPs 10.0.7.N (and fd00::N), MACs fa:16:3e:..."""

    def __init__(self):
        self.ports = {}
        self.deleted, self.unbound, self.calls = [], [], []
        self.fail_on_network = None   # create_or_update_port raises for this network
        self.fail_release = False     # delete_or_unbind_ports raises
        self.mac = None               # the MAC the next port gets (default: a good one)
        self.v6_only_network = None   # new ports on this network get an IPv6 address only
        self.next_host = 10

    def create_or_update_port(self, container, network_uuid, requested_network, device_owner,
                              security_groups=None, set_binding_host=False):
        self.calls.append((network_uuid, device_owner, set_binding_host, container.host,
                           security_groups))
        if network_uuid == self.fail_on_network:
            raise exception.Invalid('Quota exceeded for ports.')
        if requested_network.get('port'):
            port = self.ports[requested_network['port']]
        else:
            self.next_host += 1
            n = self.next_host
            port = {'id': str(uuid.uuid4()), 'network_id': network_uuid,
                    'mac_address': self.mac or 'fa:16:3e:00:07:%02x' % n,
                    'fixed_ips': [{'ip_address': '10.0.7.%d' % n, 'subnet_id': SUBNET},
                                  {'ip_address': 'fd00::%d' % n, 'subnet_id': SUBNET6}]}
            if network_uuid == self.v6_only_network:
                port['fixed_ips'] = port['fixed_ips'][1:]
            self.ports[port['id']] = port
        port.update({'device_id': container.uuid, 'device_owner': device_owner,
                     'binding:host_id': container.host})
        keep = requested_network['preserve_on_delete']
        addresses = [{'addr': ip['ip_address'], 'version': 6 if ':' in ip['ip_address'] else 4,
                      'port': port['id'], 'subnet_id': ip['subnet_id'], 'preserve_on_delete': keep}
                     for ip in port['fixed_ips']]
        return addresses, port

    def user_port(self, network, ip='10.0.7.200', subnet=SUBNET, mac='fa:16:3e:aa:bb:cc'):
        """A port the user made beforehand (nets: [{port}])."""
        port = {'id': str(uuid.uuid4()), 'network_id': network, 'mac_address': mac,
                'fixed_ips': [{'ip_address': ip, 'subnet_id': subnet}]}
        self.ports[port['id']] = port
        return port['id']

    def show_subnet(self, subnet_id):
        assert subnet_id == SUBNET
        return {'subnet': {'id': SUBNET, 'cidr': '10.0.7.0/24', 'gateway_ip': '10.0.7.1',
                           'dns_nameservers': ['10.0.7.2', 'fd00::53']}}

    def get_neutron_network(self, network):
        return {'id': network, 'mtu': 1450}

    def delete_or_unbind_ports(self, ports, ports_to_delete):
        if self.fail_release:
            raise exception.ZunException('Neutron is down')
        for p in ports:
            if p in ports_to_delete:
                self.deleted.append(p)
                self.ports.pop(p, None)
            else:
                self.unbound.append(p)
                self.ports[p].update({'device_id': '', 'device_owner': '', 'binding:host_id': None})


def requested(network, port='', keep=False):
    """An entry as zun.common.utils.build_requested_networks makes it."""
    return {'network': network, 'port': port, 'router:external': False, 'shared': False,
            'fixed_ip': '', 'preserve_on_delete': keep}


@pytest.fixture(scope='module')
def ovs_zunvmd():
    from zunvmd_proc import Zunvmd
    d = Zunvmd(driver='fake', config_text='[network]\novs_bridge = br-int\n').start()
    yield d
    d.stop()
    d.cleanup()


@pytest.fixture
def neutron():
    return FakeNeutron()


@pytest.fixture
def ndriver(conf, ovs_zunvmd, neutron):
    from zunvm_zun import driver as zdriver
    conf.set_override('api_url', ovs_zunvmd.url, group='zunvm')
    conf.set_override('use_neutron', True, group='zunvm')
    d = zdriver.ZunvmDriver()
    d._neutron_api = lambda context: neutron
    d.sent = []
    create = d.api.create

    def recording_create(body, **kw):
        d.sent.append(body)
        return create(body, **kw)
    d.api.create = recording_create
    yield d
    conf.clear_override('use_neutron', group='zunvm')


def view(zunvmd, uuid_):
    r = requests.get(zunvmd.url + '/v1/containers/' + uuid_, timeout=30,
                     headers={'OpenStack-API-Version': 'container 1.40'})
    return r.json() if r.status_code == 200 else None


def create(driver, ctx, nets, **kw):
    c = new_container(ctx, **kw)
    c.task_state = consts.CONTAINER_CREATING
    c.save(ctx)
    return driver.create(ctx, c, {'repo': 'busybox', 'tag': 'latest'}, nets, {c.uuid: []})


def test_create_makes_bound_ports_and_zunvmd_plugs_them(ndriver, ctx, ovs_zunvmd, neutron):
    c = create(ndriver, ctx, [requested(NET)])
    assert neutron.calls == [(NET, 'compute:zunvm', True, c.host, None)]
    [port_id] = neutron.ports
    # What zunvmd was sent: the port whole, its first IPv4 address with the subnet's details.
    [entry] = ndriver.sent[-1]['nets']
    assert entry == {'network': NET, 'port': port_id, 'mac_address': 'fa:16:3e:00:07:0b',
                     'fixed_ips': [{'ip_address': '10.0.7.11', 'cidr': '10.0.7.0/24',
                                    'gateway_ip': '10.0.7.1', 'subnet_id': SUBNET}],
                     'dns_nameservers': ['10.0.7.2'], 'preserve_on_delete': False, 'mtu': 1450}
    # zunvmd plugged it: its addresses name the Neutron network, port and subnet.
    assert view(ovs_zunvmd, c.uuid)['addresses'] == {NET: [
        {'addr': '10.0.7.11', 'version': 4, 'port': port_id, 'subnet_id': SUBNET,
         'preserve_on_delete': False}]}
    # The Zun object keeps Neutron's whole list (IPv6 too), also after a sync from zunvmd.
    assert [a['addr'] for a in c.addresses[NET]] == ['10.0.7.11', 'fd00::11']
    c = ndriver.show(ctx, c)
    assert [a['addr'] for a in c.addresses[NET]] == ['10.0.7.11', 'fd00::11']
    # Delete: zunvmd forgets it, and the port this driver made is deleted in Neutron.
    ndriver.delete(ctx, c, True)
    assert view(ovs_zunvmd, c.uuid) is None
    assert neutron.deleted == [port_id] and neutron.unbound == []


def test_a_users_own_port_is_bound_then_unbound_not_deleted(ndriver, ctx, ovs_zunvmd, neutron):
    own = neutron.user_port(NET)
    c = create(ndriver, ctx, [requested(NET, port=own, keep=True), requested(NET2)])
    assert neutron.ports[own]['binding:host_id'] == c.host
    v = view(ovs_zunvmd, c.uuid)
    assert set(v['addresses']) == {NET, NET2}
    assert v['addresses'][NET][0]['port'] == own and v['addresses'][NET][0]['preserve_on_delete']
    made = v['addresses'][NET2][0]['port']
    ndriver.delete(ctx, c, True)
    assert neutron.unbound == [own] and neutron.deleted == [made]
    assert neutron.ports[own]['binding:host_id'] is None


def test_a_failing_port_undoes_the_ones_made_before(ndriver, ctx, ovs_zunvmd, neutron):
    neutron.fail_on_network = NET2
    c = new_container(ctx)
    with pytest.raises(exception.Invalid):
        ndriver.create(ctx, c, {'repo': 'busybox'}, [requested(NET), requested(NET2)], {c.uuid: []})
    assert len(neutron.deleted) == 1 and neutron.ports == {}
    assert c.addresses == {}
    assert view(ovs_zunvmd, c.uuid) is None


def test_zunvmd_refusing_the_port_undoes_it(ndriver, ctx, ovs_zunvmd, neutron):
    neutron.mac = '01:00:5e:00:00:01'  # multicast: zunvmd answers 400
    c = new_container(ctx)
    with pytest.raises(exception.Invalid) as e:
        ndriver.create(ctx, c, {'repo': 'busybox'}, [requested(NET)], {c.uuid: []})
    assert 'mac_address' in str(e.value)
    assert len(neutron.deleted) == 1 and neutron.ports == {}
    assert c.addresses == {}


def test_attach_and_detach_a_network(ndriver, ctx, ovs_zunvmd, neutron):
    c = create(ndriver, ctx, [requested(NET)])
    c = ndriver.start(ctx, c)
    ndriver.network_attach(ctx, c, requested(NET2))
    v = view(ovs_zunvmd, c.uuid)
    assert set(v['addresses']) == {NET, NET2} and set(c.addresses) == {NET, NET2}
    attached = c.addresses[NET2][0]['port']
    assert v['addresses'][NET2][0]['port'] == attached
    with pytest.raises(exception.Conflict):
        ndriver.network_attach(ctx, c, requested(NET2))
    ndriver.network_detach(ctx, c, NET2)
    assert set(view(ovs_zunvmd, c.uuid)['addresses']) == {NET}
    assert set(c.addresses) == {NET}
    assert neutron.deleted == [attached]
    ndriver.delete(ctx, c, True)


def test_the_real_zun_neutron_api_has_what_the_driver_calls():
    from conftest import USING_REAL_ZUN
    if not USING_REAL_ZUN:
        pytest.skip('needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)')
    import inspect
    from neutronclient.v2_0 import client
    from zun.network import neutron
    params = list(inspect.signature(neutron.NeutronAPI.create_or_update_port).parameters)
    assert params == ['self', 'container', 'network_uuid', 'requested_network', 'device_owner',
                      'security_groups', 'set_binding_host']
    assert list(inspect.signature(neutron.NeutronAPI.delete_or_unbind_ports).parameters) == [
        'self', 'ports', 'ports_to_delete']
    assert callable(neutron.NeutronAPI.get_neutron_network)
    assert callable(client.Client.show_subnet)  # reached through NeutronAPI.__getattr__


def test_the_containers_security_groups_go_to_its_ports(ndriver, ctx, neutron, monkeypatch):
    try:
        from zun.common import utils
    except ImportError:  # the stand-in has no zun.common.utils
        utils = types.ModuleType('zun.common.utils')
        monkeypatch.setitem(sys.modules, 'zun.common.utils', utils)
    monkeypatch.setattr(utils, 'get_security_group_ids',
                        lambda context, groups: ['id-of-' + g for g in groups], raising=False)
    c = create(ndriver, ctx, [requested(NET)], security_groups=['web'])
    assert neutron.calls == [(NET, 'compute:zunvm', True, c.host, ['id-of-web'])]
    ndriver.delete(ctx, c, True)


def test_a_port_without_ipv4_is_refused_and_released(ndriver, ctx, ovs_zunvmd, neutron):
    neutron.v6_only_network = NET2
    c = new_container(ctx)
    with pytest.raises(exception.Invalid) as e:
        ndriver.create(ctx, c, {'repo': 'busybox'}, [requested(NET), requested(NET2)],
                       {c.uuid: []})
    assert 'IPv4' in str(e.value)
    assert len(neutron.deleted) == 2 and neutron.ports == {}  # the good one and the v6 one
    # a user's own port without IPv4 is unbound, not deleted
    own = neutron.user_port(NET, ip='fd00::99', subnet=SUBNET6)
    with pytest.raises(exception.Invalid):
        ndriver.create(ctx, c, {'repo': 'busybox'}, [requested(NET, own, True)], {c.uuid: []})
    assert neutron.unbound == [own] and list(neutron.ports) == [own]
    assert c.addresses == {} and ndriver.sent == [] and view(ovs_zunvmd, c.uuid) is None


def test_a_create_failing_after_zunvmd_accepted_it_is_undone(ndriver, ctx, ovs_zunvmd, neutron):
    """The manager unsets the host of a failed create and zun-api then destroys it without
    calling zun-compute: the driver itself removes it from zunvmd and releases the ports."""
    own = neutron.user_port(NET)
    timeouts = time_out_first_wait(ndriver)
    c = new_container(ctx)
    with pytest.raises(exception.ZunException):
        ndriver.create(ctx, c, {'repo': 'busybox'}, [requested(NET, own, True), requested(NET2)],
                       {c.uuid: []})
    assert timeouts == [c.uuid] and ndriver.sent[-1]['nets']  # zunvmd had it, with its ports
    assert view(ovs_zunvmd, c.uuid) is None
    assert neutron.unbound == [own] and len(neutron.deleted) == 1
    assert list(neutron.ports) == [own] and c.addresses == {}


def test_a_neutron_error_on_delete_is_logged_not_raised(ndriver, ctx, ovs_zunvmd, neutron):
    c = create(ndriver, ctx, [requested(NET)])
    neutron.fail_release = True
    ndriver.delete(ctx, c, True)
    assert view(ovs_zunvmd, c.uuid) is None


def test_delete_releases_ports_of_a_create_that_never_reached_zunvmd(ndriver, ctx, neutron):
    # zun-compute died between making the ports (saved on the container) and zunvmd's create
    c = new_container(ctx)
    ndriver._plug_ports(ctx, c, [requested(NET)])
    assert c.container_id is None and set(c.addresses) == {NET}
    ndriver.delete(ctx, c, True)
    assert neutron.ports == {} and len(neutron.deleted) == 1


def test_attach_refused_by_zunvmd_releases_the_port(ndriver, ctx, ovs_zunvmd, neutron):
    c = create(ndriver, ctx, [requested(NET)])
    before = dict(c.addresses)
    neutron.mac = '01:00:5e:00:00:01'  # multicast: zunvmd answers 400
    with pytest.raises(exception.Invalid):
        ndriver.network_attach(ctx, c, requested(NET2))
    own = neutron.user_port(NET2, mac='01:00:5e:00:00:02')
    with pytest.raises(exception.Invalid):
        ndriver.network_attach(ctx, c, requested(NET2, own, True))
    assert len(neutron.deleted) == 1 and neutron.unbound == [own]
    assert c.addresses == before and set(view(ovs_zunvmd, c.uuid)['addresses']) == {NET}
    ndriver.delete(ctx, c, True)


def test_detach_unbinds_a_users_port(ndriver, ctx, ovs_zunvmd, neutron):
    c = create(ndriver, ctx, [requested(NET)])
    own = neutron.user_port(NET2)
    ndriver.network_attach(ctx, c, requested(NET2, own, True))
    assert view(ovs_zunvmd, c.uuid)['addresses'][NET2][0]['port'] == own
    ndriver.network_detach(ctx, c, NET2)
    assert neutron.unbound == [own] and neutron.deleted == [] and own in neutron.ports
    assert set(c.addresses) == {NET} and set(view(ovs_zunvmd, c.uuid)['addresses']) == {NET}
    ndriver.delete(ctx, c, True)


def test_without_neutron_mode_requested_networks_are_not_used(conf, driver, ctx, zunvmd):
    def no_neutron(context):
        raise AssertionError('Neutron used with use_neutron = False')
    driver._neutron_api = no_neutron
    c = new_container(ctx)
    c = driver.create(ctx, c, {'repo': 'busybox'}, [requested(NET)], {c.uuid: []})
    assert c.addresses == {}  # zunvmd's own default network is not Neutron's: annotations
    [net] = c.annotations['zunvm.addresses']
    assert net != NET and c.annotations['zunvm.addresses'] == view(zunvmd, c.uuid)['addresses']
    with pytest.raises(exception.Invalid):
        driver.network_attach(ctx, c, requested(NET2))
    driver.delete(ctx, c, True)


def test_through_zun_computes_manager(conf, ovs_zunvmd, neutron, busybox_tar, monkeypatch):
    """The real Manager: create, attach, detach, delete and a failing create, as zun-compute
    runs them (the DB row is what zun-api shows)."""
    from conftest import USING_REAL_ZUN, admin_context
    if not USING_REAL_ZUN:
        pytest.skip('needs the real Zun (ZUNVM_ZUN_SRC=<checkout>)')
    from test_zun_manager import action_ctx, real_manager, reload
    from zunvm_zun import driver as zdriver
    monkeypatch.setattr(zdriver.ZunvmDriver, '_neutron_api', lambda self, context: neutron)
    conf.set_override('use_neutron', True, group='zunvm')
    try:
        with real_manager(conf, ovs_zunvmd, busybox_tar) as mgr:
            c = new_container(admin_context())
            mgr.container_create(action_ctx(c, 'create'), None, [requested(NET)], {c.uuid: []},
                                 c, True)
            c = reload(c)
            assert c.status == consts.RUNNING
            assert [a['addr'] for a in c.addresses[NET]] == ['10.0.7.11', 'fd00::11']
            made = c.addresses[NET][0]['port']
            assert view(ovs_zunvmd, c.uuid)['addresses'][NET][0]['port'] == made

            mgr.network_attach(action_ctx(c, 'network_attach'), c, requested(NET2))
            c = reload(c)
            assert set(c.addresses) == {NET, NET2} and c.task_state is None
            attached = c.addresses[NET2][0]['port']
            mgr.network_detach(action_ctx(c, 'network_detach'), c, NET2)
            c = reload(c)
            assert set(c.addresses) == {NET} and neutron.deleted == [attached]

            mgr.container_delete(action_ctx(c, 'delete'), c, True)
            assert view(ovs_zunvmd, c.uuid) is None
            assert neutron.deleted == [attached, made] and neutron.ports == {}

            neutron.fail_on_network = NET2
            c = new_container(admin_context())
            with pytest.raises(exception.Invalid):
                mgr.container_create(action_ctx(c, 'create'), None,
                                     [requested(NET), requested(NET2)], {c.uuid: []}, c, True)
            c = reload(c)
            # zun-api destroys such a row without calling zun-compute: nothing may be left
            assert c.status == consts.ERROR and c.host is None and c.addresses == {}
            assert neutron.ports == {} and view(ovs_zunvmd, c.uuid) is None
    finally:
        conf.clear_override('use_neutron', group='zunvm')
