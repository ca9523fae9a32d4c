"""ZunvmDriver: the Zun container driver that hands every container to this host's zunvmd.

zun-compute calls these methods (zun/compute/manager.py) with the container's Zun object.
Contracts the manager relies on, kept here:
  * the container object is changed in place (status, status_reason, status_detail,
    container_id, hostname, ports, runtime...); create() also saves it and returns it;
  * a status read from zunvmd is not written over a container that has a task_state, unless
    the driver itself just finished that task (``force``), as the Docker driver does;
  * errors are Zun exceptions: 400 -> Invalid, 404 -> ContainerNotFound/ImageNotFound/NotFound,
    409 -> Conflict, anything else -> ZunvmError (a DockerError, which the manager catches by
    name and turns into status Error).
The Zun container uuid is the zunvmd container uuid (zunvmd's create takes a caller-chosen
uuid), so ``container_id == uuid`` and zunvmd's VM is named ``zunvm-<uuid>``.
"""

import base64
import io
import ipaddress
import os
import re
import secrets

from oslo_log import log as logging

from zun.common import consts
from zun.common import exception
from zun.compute import container_actions
import zun.conf
from zun.container import driver
from zun import objects

from zunvm_zun import capsule as zcapsule
from zunvm_zun import client as zclient
from zunvm_zun import conf as zconf

CONF = zun.conf.CONF
zconf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# Statuses the manager may act on for a rebuild (zun/common/utils.py VALID_STATES).
REBUILD_STATES = (consts.CREATED, consts.RUNNING, consts.STOPPED, consts.ERROR)
# execute_create ids kept for execute_run; older ones are forgotten past this many.
MAX_PENDING_EXECS = 1024
# Where the driver keeps zunvmd's addresses in default mode (the container's annotations):
# Zun's own `addresses` are Neutron ports to Zun (its rebuild asks Neutron about each one).
ADDRESSES_ANNOTATION = 'zunvm.addresses'
# zunvmd's statuses are Zun's; anything else it might say is shown as Unknown.
KNOWN_STATUSES = frozenset([
    consts.ERROR, consts.RUNNING, consts.STOPPED, consts.PAUSED, consts.UNKNOWN,
    consts.CREATING, consts.CREATED, consts.DELETED, consts.DELETING, consts.REBUILDING,
    consts.DEAD, consts.RESTARTING])


class ZunvmError(exception.DockerError):
    """zunvmd failed or could not be reached (HTTP 5xx, timeouts, bad answers)."""
    message = "zunvmd error: %(error_msg)s"


class ZunvmNotSupported(exception.Invalid):
    message = "%(what)s is not supported by the zunvm driver."


def _msg(text):
    """ZunException %-formats a given message with its kwargs: keep literal %s literal."""
    return str(text).replace('%', '%%')


def _translate(err, container=None, image=None):
    """A Zun exception for a client error (ApiError or Unreachable)."""
    if isinstance(err, zclient.Unreachable):
        return ZunvmError(error_msg=str(err))
    detail = _msg(err.detail)
    if err.status == 404:
        if image is not None or 'image' in err.code:
            return exception.ImageNotFound(detail)
        if container is not None and err.code == 'container.container-not-found':
            return exception.ContainerNotFound(container=container.uuid)
        return exception.NotFound(detail)
    if err.status in (400, 413, 415, 406):
        return exception.Invalid(detail)
    if err.status == 501:  # zunvmd does not offer it (yet): a clear 400, not a 500
        return exception.Invalid(detail)
    if err.status == 409:
        return exception.Conflict(detail)
    if err.status == 403:
        return exception.NotAuthorized(detail)
    return ZunvmError(error_msg='%s (HTTP %d)' % (detail, err.status))


def _memory_mib(value):
    """Zun keeps memory as a string of MiB ("512"); tolerate a trailing M as zunvmd would not."""
    text = str(value)
    return text.rstrip('Mm') or text


def _to_int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _signal_name(signal):
    """The signal as zunvmd takes it, or None for "no signal" (SIGKILL). zunclient sends the
    string 'None' when the user gives no signal."""
    if signal is None:
        return None
    text = str(signal).strip()
    return None if text in ('', 'None') else text


def _is_sigkill(signal):
    return signal is None or signal.upper().lstrip('SIG') in ('KILL', '9')


class ZunvmDriver(driver.BaseDriver, driver.ContainerDriver, driver.CapsuleDriver):
    """Zun container driver over zunvmd's REST API. One instance per zun-compute."""

    capabilities = {}

    def __init__(self, api=None):
        super(ZunvmDriver, self).__init__()
        self.api = api or zclient.Client(
            CONF.zunvm.api_url, token=zconf.keystone_session(CONF) or CONF.zunvm.auth_token,
            timeout=CONF.zunvm.timeout,
            ca_file=CONF.zunvm.ca_file, poll_interval=CONF.zunvm.poll_interval)
        # exec_id -> (container uuid, command) between execute_create and execute_run.
        self._execs = {}
        # exec_id -> container uuid of interactive execs (zunvmd's exec instances, which Zun's
        # proxy starts through the console listener's Docker API), for execute_resize.
        self._consoles = {}
        if self.volume_drivers:
            # Zun's BaseDriver keyed them by their name in [volume] driver_list; the manager's
            # calls look them up by the mapping's provider ('cinder', 'local').
            from zunvm_zun import volume as zvolume
            self.volume_drivers = zvolume.by_provider(self.volume_drivers)

    # --- calls --------------------------------------------------------------------------
    def _call(self, fn, *args, container=None, image=None, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (zclient.ApiError, zclient.Unreachable) as e:
            raise _translate(e, container=container, image=image)

    def _require_id(self, container):
        if container.container_id is None:
            raise exception.Invalid("Cannot operate an uncreated container.")
        return container.container_id

    # --- state ----------------------------------------------------------------------------
    @staticmethod
    def _populate(container, view, force=False):
        """Copies zunvmd's view of the container onto the Zun object."""
        hostname = view.get('hostname')
        if hostname and not container.hostname:
            container.hostname = hostname
        ports = view.get('ports')
        if isinstance(ports, list) and all(isinstance(p, int) for p in ports):
            if ports != (container.ports or []):
                container.ports = ports
        addresses = view.get('addresses')
        if not CONF.zunvm.use_neutron and isinstance(addresses, dict):
            # zunvmd's own networks are not Neutron's: Zun's rebuild looks up every entry of
            # `addresses` in Neutron, so they are kept in the annotations instead, where
            # create() finds them again to keep the addresses across a rebuild. (With
            # Neutron, Neutron's own list is kept in `addresses`: zunvmd knows only the IPv4
            # address it configures.)
            ZunvmDriver._set_annotation(container, ADDRESSES_ANNOTATION, addresses)
            if container.addresses:
                container.addresses = {}
        runtime = view.get('runtime')
        if isinstance(runtime, str) and runtime and container.runtime != runtime:
            container.runtime = runtime
        if container.task_state and not force:
            return
        status = view.get('status')
        if status not in KNOWN_STATUSES:
            status = consts.UNKNOWN
        reason = view.get('status_reason')
        detail = view.get('status_detail')
        if container.status != status:
            container.status = status
        if container.status_reason != reason:
            container.status_reason = reason if isinstance(reason, str) else None
        if container.status_detail != detail:
            container.status_detail = detail if isinstance(detail, str) else None

    @staticmethod
    def _set_annotation(container, key, value):
        notes = dict(container.annotations or {})
        if notes.get(key) != value:
            notes[key] = value
            container.annotations = notes

    def _settled(self, view):
        return not view.get('task_state') and view.get('status') not in (
            consts.CREATING, consts.DELETING)

    def _act(self, container, action, params=None, body=None):
        """POST an action, wait until zunvmd finished it, copy the outcome."""
        cid = self._require_id(container)
        self._call(self.api.action, cid, action, params=params, body=body, container=container)
        view = self._call(self.api.wait, cid, self._settled, CONF.zunvm.create_timeout,
                          container=container)
        if view is None:
            raise exception.ContainerNotFound(container=container.uuid)
        self._populate(container, view, force=True)
        return container

    def _handle_missing(self, context, container):
        """zunvmd no longer has the container (Docker driver's handle_not_found)."""
        if container.status == consts.DELETING:
            return
        if container.auto_remove:
            container.status = consts.DELETED
        else:
            container.status = consts.ERROR
            container.status_reason = "No such container: %s in zunvmd" % container.container_id
        container.save(context)

    # --- life cycle ------------------------------------------------------------------------
    def _create_body(self, container, image):
        if image and image.get('repo'):
            name = image['repo'] + (':' + image['tag'] if image.get('tag') else '')
        else:
            name = container.image
        body = {'uuid': container.uuid, 'image': name}
        if container.name:
            body['name'] = container.name
        optional = {
            'command': container.command, 'entrypoint': container.entrypoint,
            'cpu': container.cpu, 'memory': container.memory,
            'environment': container.environment, 'workdir': container.workdir,
            'labels': container.labels, 'hostname': container.hostname,
            'image_pull_policy': container.image_pull_policy,
            'restart_policy': container.restart_policy, 'disk': container.disk,
            'runtime': container.runtime, 'exposed_ports': container.exposed_ports,
        }
        for key, value in optional.items():
            if value not in (None, '', [], {}):
                body[key] = value
        for key in ('interactive', 'tty', 'auto_remove', 'auto_heal'):
            if getattr(container, key, None):
                body[key] = True
        if container.privileged:
            body['privileged'] = True
        hc = container.healthcheck
        if hc:
            body['healthcheck'] = {
                'cmd': hc.get('test', hc.get('cmd', '')),
                **{k: _to_int(hc[k], 0) for k in ('interval', 'retries', 'timeout')
                   if hc.get(k) is not None}}
        if 'memory' in body:
            body['memory'] = _memory_mib(body['memory'])
        return body

    @staticmethod
    def _previous_nets(container, fixed=True):
        """zunvmd `nets` for the networks (and, with `fixed`, the addresses) a rebuilt or
        healed container had, from the annotation _populate keeps; [] for a new one."""
        known = (container.annotations or {}).get(ADDRESSES_ANNOTATION)
        nets = []
        for network, entries in sorted((known or {}).items()) if isinstance(known, dict) else []:
            net = {'network': str(network)}
            v4 = [e.get('addr') for e in entries or []
                  if isinstance(e, dict) and e.get('version') == 4 and e.get('addr')]
            if fixed and v4:
                net['v4-fixed-ip'] = str(v4[0])
            nets.append(net)
        return nets

    def _create_in_zunvmd(self, container, body):
        """POSTs the create; in default mode a rebuilt/healed container asks for its previous
        addresses, and for any address on the same networks when one is taken meanwhile."""
        if CONF.zunvm.use_neutron or 'nets' in body:
            return self._call(self.api.create, body, container=container)
        previous = self._previous_nets(container)
        if not previous:
            return self._call(self.api.create, body, container=container)
        try:
            return self.api.create(dict(body, nets=previous))
        except zclient.ApiError as e:
            if e.status not in (400, 404, 409):
                raise _translate(e, container=container)
            LOG.warning('Container %s cannot have its previous addresses back (%s): taking '
                        'new ones', container.uuid, e.detail)
        except zclient.Unreachable as e:
            raise _translate(e)
        return self._call(self.api.create, body, container=container)

    def _mounts(self, container, requested_volumes):
        """zunvmd's `mounts` for the container's volume mappings, which the manager attached
        before create() through zunvm's volume drivers (zunvm_zun.volume): a Cinder volume's
        host block device, an injected file's bytes. (The client's microversion, 1.40, is
        above the 1.11 that `mounts` needs.)"""
        items = []
        for volmap in (requested_volumes or {}).get(container.uuid) or []:
            provider = getattr(volmap, 'volume_provider', None)
            vd = self.volume_drivers.get(provider)
            if not hasattr(vd, 'mount_item'):
                raise ZunvmNotSupported(
                    what="Attaching volumes of provider %s without zunvm's volume driver for "
                         "it ([volume] driver_list = zunvm_cinder,zunvm_local)" % provider)
            items.append(vd.mount_item(volmap))
        return items

    def create(self, context, container, image, requested_networks, requested_volumes):
        body = self._create_body(container, image)
        mounts = self._mounts(container, requested_volumes)
        if mounts:
            body['mounts'] = mounts
        if CONF.zunvm.use_neutron:
            body['nets'] = self._plug_ports(context, container, requested_networks or [])
        accepted = False
        try:
            self._create_in_zunvmd(container, body)
            accepted = True
            container.container_id = container.uuid
            view = self._call(self.api.wait, container.uuid, self._settled,
                              CONF.zunvm.create_timeout, container=container)
            if view is None:
                raise ZunvmError(error_msg='container %s vanished while it was created'
                                 % container.uuid)
            if view.get('status') == consts.ERROR:
                raise ZunvmError(error_msg=view.get('status_reason') or 'create failed')
        except Exception:
            self._undo_create(context, container, accepted)
            raise
        self._populate(container, view, force=True)
        container.addresses = container.addresses or {}
        container.save(context)
        return container

    def _undo_create(self, context, container, in_zunvmd, remove=None):
        """Releases what a failed create holds in zunvmd and Neutron. The manager unsets the
        host of a container (or capsule) whose create failed, and zun-api then destroys it
        without a call to zun-compute: no delete() will come for it. `remove(obj)` takes it
        out of zunvmd (default: the container delete)."""
        if in_zunvmd:
            try:
                if remove:
                    remove(container)
                else:
                    self._remove_from_zunvmd(container, True)
            except exception.ZunException as e:
                LOG.warning('Could not delete failed %s %s in zunvmd: %s',
                            'capsule' if remove else 'container', container.uuid, e)
        if not CONF.zunvm.use_neutron:
            return
        self._unplug_ports(context, container, container.addresses)
        container.addresses = {}
        container.save(context)

    # --- Neutron ports (OpenStack mode, [zunvm] use_neutron) -------------------------------
    def _neutron_api(self, context):
        """Zun's own Neutron API (imported here: it needs neutronclient)."""
        from zun.network import neutron
        return neutron.NeutronAPI(context)

    @staticmethod
    def _security_group_ids(context, container):
        if not container.security_groups:
            return None
        from zun.common import utils
        return utils.get_security_group_ids(context, container.security_groups)

    def _plug_port(self, neutron_api, context, container, requested_network):
        """Makes or binds the port of one requested network (Zun's build_requested_networks
        shape) on this host; returns (its Zun addresses, its `nets` entry for zunvmd)."""
        addresses, port = neutron_api.create_or_update_port(
            container, requested_network['network'], requested_network, 'compute:zunvm',
            security_groups=self._security_group_ids(context, container),
            set_binding_host=True)
        try:
            return addresses, self._nets_entry(neutron_api, port, requested_network)
        except Exception:
            keep = requested_network.get('preserve_on_delete')
            self._release_ports(context, container, [port['id']],
                                [] if keep else [port['id']], neutron_api)
            raise

    @staticmethod
    def _nets_entry(neutron_api, port, requested_network):
        """zunvmd's `nets` entry for a Neutron port: its first IPv4 fixed IP (zunvmd
        configures exactly one per NIC) with its subnet, IPv4 nameservers and the MTU."""
        v4 = [ip for ip in port.get('fixed_ips') or []
              if ipaddress.ip_address(ip['ip_address']).version == 4]
        if not v4:
            raise exception.Invalid(_msg('Neutron port %s has no IPv4 address; zunvm '
                                         'configures IPv4 only.' % port['id']))
        subnet = neutron_api.show_subnet(v4[0]['subnet_id'])['subnet']
        entry = {
            'network': port['network_id'], 'port': port['id'],
            'mac_address': port['mac_address'],
            'fixed_ips': [{'ip_address': v4[0]['ip_address'], 'cidr': subnet['cidr'],
                           'gateway_ip': subnet.get('gateway_ip'),
                           'subnet_id': v4[0]['subnet_id']}],
            'dns_nameservers': [d for d in subnet.get('dns_nameservers') or []
                                if ipaddress.ip_address(d).version == 4],
            'preserve_on_delete': bool(requested_network.get('preserve_on_delete')),
        }
        mtu = neutron_api.get_neutron_network(port['network_id']).get('mtu')
        if mtu:
            entry['mtu'] = mtu
        return entry

    def _plug_ports(self, context, container, requested_networks):
        """A port per requested network, recorded in container.addresses (saved) as soon as
        it exists, so that delete() finds them even if zun-compute dies before the create
        ends; returns the `nets` for zunvmd. On a failure here, the ports made so far are
        undone."""
        neutron_api = self._neutron_api(context)
        nets = []
        container.addresses = {}
        try:
            for rn in requested_networks:
                addresses, entry = self._plug_port(neutron_api, context, container, rn)
                merged = dict(container.addresses)
                merged[entry['network']] = addresses
                container.addresses = merged
                nets.append(entry)
        except Exception:
            self._unplug_ports(context, container, container.addresses, neutron_api)
            container.addresses = {}
            raise
        finally:
            container.save(context)
        return nets

    def _unplug_ports(self, context, container, addresses, neutron_api=None):
        """Deletes the ports in `addresses` this driver made and unbinds the user's own
        (preserve_on_delete); Neutron failures are logged, not raised."""
        ports, to_delete = [], []
        for entries in (addresses or {}).values():
            for a in entries:
                if a.get('port') and a['port'] not in ports:
                    ports.append(a['port'])
                    if not a.get('preserve_on_delete'):
                        to_delete.append(a['port'])
        self._release_ports(context, container, ports, to_delete, neutron_api)

    def _release_ports(self, context, container, ports, to_delete, neutron_api=None):
        if not ports:
            return
        try:
            (neutron_api or self._neutron_api(context)).delete_or_unbind_ports(ports, to_delete)
        except Exception as e:  # the container is gone either way
            LOG.warning('Could not release Neutron ports %s of container %s: %s',
                        ports, container.uuid, e)

    def start(self, context, container):
        return self._act(container, 'start')

    def stop(self, context, container, timeout):
        params = {}
        if timeout:
            params['timeout'] = _to_int(timeout, 10)
        return self._act(container, 'stop', params=params)

    def reboot(self, context, container, timeout):
        params = {}
        if timeout:
            params['timeout'] = _to_int(timeout, 10)
        return self._act(container, 'reboot', params=params)

    def pause(self, context, container):
        return self._act(container, 'pause')

    def unpause(self, context, container):
        return self._act(container, 'unpause')

    def kill(self, context, container, signal=None):
        name = _signal_name(signal)
        self._act(container, 'kill', params={'signal': name} if name else None)
        if container.status == consts.RUNNING and _is_sigkill(name):
            # The VM reports the exit a moment after the signal: wait for it.
            try:
                view = self.api.wait(container.container_id,
                                     lambda v: v.get('status') != consts.RUNNING,
                                     CONF.zunvm.timeout)
            except (zclient.ApiError, zclient.Unreachable):
                view = None
            if view is not None:
                self._populate(container, view, force=True)
        return container

    def _remove_from_zunvmd(self, container, force):
        """Deletes the container in zunvmd and waits until it is gone (one zunvmd does not
        have is gone already). Zun exceptions; ZunvmError when zunvmd's delete failed."""
        try:
            self.api.delete(container.container_id, force=bool(force))
        except zclient.ApiError as e:
            if e.status == 404:
                return
            raise _translate(e, container=container)
        except zclient.Unreachable as e:
            raise _translate(e)
        view = self._call(self.api.wait, container.container_id,
                          lambda v: v.get('status') == consts.ERROR,
                          CONF.zunvm.create_timeout, container=container)
        if view is not None:
            raise ZunvmError(error_msg=view.get('status_reason') or 'delete failed')

    def delete(self, context, container, force):
        """Returns once zunvmd no longer has the container (its VM is gone, so no qemu holds
        a volume's device): the manager detaches the volumes right after."""
        if container.container_id is not None:
            self._remove_from_zunvmd(container, force)
        if CONF.zunvm.use_neutron:
            # also when zunvmd never had it: ports are made (and saved) before its create
            self._unplug_ports(context, container, container.addresses)

    # --- volumes (the manager calls these around create and delete, and at start-up) ------
    def _zunvmd_view(self, container_uuid):
        """zunvmd's view of the container, or None when zunvmd does not have it."""
        try:
            return self.api.get(container_uuid)
        except zclient.ApiError as e:
            if e.status == 404:
                return None
            raise _translate(e)
        except zclient.Unreachable as e:
            raise _translate(e)

    def attach_volume(self, context, volume_mapping):
        """Before create, and again at zun-compute's start-up for the volumes of the host's
        containers (remount_container_volume), which connects each Cinder volume again. A
        container's devices are fixed in zunvmd when it is created, so a volume connected
        again at another device than its VM has fails here (ZunvmError naming the volume): the
        manager then puts the container in Error; a rebuild hands it the new device."""
        reattach = (volume_mapping.volume_provider == 'cinder' and
                    bool(volume_mapping.connection_info))
        super(ZunvmDriver, self).attach_volume(context, volume_mapping)
        if not reattach:
            return
        item = self._get_volume_driver(volume_mapping).mount_item(volume_mapping)
        view = self._zunvmd_view(volume_mapping.container_uuid) or {}
        for m in view.get('mounts') or []:
            if m.get('type') != 'block' or m.get('serial') != item['serial']:
                continue
            had = m.get('source') or ''
            # two names of one device (a by-path link and its node) are the same device
            if os.path.realpath(had) != os.path.realpath(item['device_path']):
                raise ZunvmError(error_msg=_msg(
                    'volume %s was connected again at %s, but the VM of container %s has it '
                    'at %s (zunvmd cannot change the devices of a created container; rebuild '
                    'it)' % (volume_mapping.cinder_volume_id, item['device_path'],
                             volume_mapping.container_uuid, had)))

    def detach_volume(self, context, volume_mapping):
        """Disconnects a Cinder volume only once zunvmd no longer has the container: the
        manager also detaches after a delete that failed and when it fails a container, and
        the device must not be pulled from under a running VM. Refusing (ZunvmError) leaves
        the volume attached, for a later delete."""
        if (volume_mapping.volume_provider == 'cinder' and
                self._zunvmd_view(volume_mapping.container_uuid) is not None):
            raise ZunvmError(error_msg=_msg(
                'volume %s is not detached: container %s is still in zunvmd, whose VM may '
                'hold the device' % (volume_mapping.cinder_volume_id,
                                     volume_mapping.container_uuid)))
        super(ZunvmDriver, self).detach_volume(context, volume_mapping)

    def show(self, context, container):
        if container.container_id is None:
            return container
        try:
            view = self.api.get(container.container_id)
        except zclient.ApiError as e:
            if e.status == 404:
                self._handle_missing(context, container)
                return container
            raise _translate(e, container=container)
        except zclient.Unreachable as e:
            raise _translate(e)
        self._populate(container, view)
        return container

    def check_container_exist(self, container):
        if container.container_id is None:
            return False
        try:
            self.api.get(container.container_id)
            return True
        except zclient.ApiError as e:
            if e.status == 404:
                return False
            raise _translate(e)
        except zclient.Unreachable as e:
            raise _translate(e)

    # --- the status sync zun-compute runs every sync_container_state_interval ----------
    def _local_containers(self, context, uuids):
        host_containers = objects.Container.list_by_host(context, CONF.host)
        wanted = sorted(set(uuids) | set(c.uuid for c in host_containers))
        return objects.Container.list(context, filters={'uuid': wanted})

    def list(self, context):
        """(Zun containers of this host with zunvmd's state, those zunvmd does not have)."""
        views = self._call(self.api.list_all)
        by_id = {v['uuid']: v for v in views if isinstance(v, dict) and 'uuid' in v}
        local = self._local_containers(context, list(by_id))
        missing = []
        for container in local:
            if container.status in (consts.CREATING, consts.DELETING, consts.DELETED,
                                    consts.REBUILDING) or container.task_state:
                continue  # mid-operation (a rebuild is between its delete and its create)
            view = by_id.get(container.container_id) if container.container_id else None
            if view is None:
                missing.append(container)
                continue
            self._populate(container, view)
        return local, missing

    def update_containers_states(self, context, containers, manager):
        """zun-compute's sync calls this twice per period: with the Containers, then with the
        Capsules. Only the objects passed are synced or healed, so the second call does not
        heal the containers of the first again. Capsules get zunvmd's capsule statuses
        (theirs and their members'; zunvm_zun.capsule.sync)."""
        capsules = [c for c in containers or [] if _is_capsule(c)]
        if capsules:
            zcapsule.sync(self, context, capsules)
        containers = [c for c in containers or [] if not _is_capsule(c)]
        if not containers:
            return
        wanted = {c.uuid for c in containers}
        local, missing = self.list(context)
        if not local:
            return
        local_by_id = {c.container_id: c for c in local if c.container_id}
        for container in containers:
            mine = local_by_id.get(container.container_id) if container.container_id else None
            if mine is None:
                continue
            if container.status != mine.status:
                LOG.info('Status of container %s changed from %s to %s',
                         container.uuid, container.status, mine.status)
                container.status = mine.status
                container.status_reason = mine.status_reason
                container.save(context)
            if container.host != CONF.host:
                container.host = CONF.host
                container.save(context)
        for container in missing:
            if container.host != CONF.host or container.uuid not in wanted:
                continue
            if container.auto_remove:
                container.status = consts.DELETED
                container.save(context)
            else:
                self._heal(context, container, manager)

    def _heal(self, context, container, manager):
        if not container.container_id:
            return
        if container.auto_heal and container.status in REBUILD_STATES:
            run = container.status == consts.RUNNING
            LOG.warning('Container %s is gone from zunvmd: rebuilding it (auto_heal)',
                        container.uuid)
            try:
                # As Docker's driver does: the rebuild's finish step needs its action.
                context.project_id = container.project_id
                objects.ContainerAction.action_start(
                    context, container.uuid, container_actions.REBUILD, want_result=False)
                manager.container_rebuild(context, container, run)
                return
            except Exception as e:  # the manager's own failure: fall back to Error
                LOG.warning('Rebuilding container %s failed: %s', container.uuid, e)
        LOG.warning('Container %s was recorded in DB but missing in zunvmd', container.uuid)
        container.status = consts.ERROR
        container.status_reason = "No such container: %s in zunvmd" % container.container_id
        container.save(context)

    # --- inside the container ------------------------------------------------------------
    def show_logs(self, context, container, stdout=True, stderr=True, timestamps=False,
                  tail='all', since=None):
        params = {'stdout': bool(stdout), 'stderr': bool(stderr),
                  'timestamps': bool(timestamps)}
        if tail not in (None, 'all', ''):
            params['tail'] = _to_int(tail, -1) if _to_int(tail, -1) >= 0 else 'all'
        if since not in (None, 'None', ''):
            params['since'] = str(since)
        text = self._call(self.api.query, self._require_id(container), 'logs', params=params,
                          container=container)
        return (text or '').encode('utf-8')

    def execute_create(self, context, container, command, interactive=False):
        cid = self._require_id(container)
        if interactive:
            return self._console_exec(cid, command, container)
        exec_id = secrets.token_hex(32)  # Zun's API takes 64 hex characters (exec_id)
        while len(self._execs) >= MAX_PENDING_EXECS:  # created but never run: drop the oldest
            self._execs.pop(next(iter(self._execs)))
        self._execs[exec_id] = (cid, command)
        return exec_id

    def execute_run(self, exec_id, command):
        entry = self._execs.pop(exec_id, None)
        if entry is None:
            raise exception.Invalid(_msg("Exec instance %s could not be found." % exec_id))
        cid, created_command = entry
        cmd = command if command is not None else created_command
        if isinstance(cmd, (list, tuple)):
            cmd = ' '.join(_shell_quote(str(w)) for w in cmd)
        result = self._call(self.api.action, cid, 'execute',
                            params={'run': 'true', 'command': cmd},
                            timeout=CONF.zunvm.exec_timeout)
        output = result.get('output') or ''
        return output.encode('utf-8'), result.get('exit_code')

    def _console_exec(self, cid, command, container):
        """An exec instance with a tty in zunvmd (not started): its 64-hex id is what Zun's
        proxy hands to the console listener's Docker API (`exec/<id>/start`)."""
        if isinstance(command, (list, tuple)):
            command = ' '.join(_shell_quote(str(w)) for w in command)
        result = self._call(self.api.action, cid, 'execute',
                            params={'run': 'false', 'interactive': 'true', 'command': command},
                            container=container)
        exec_id = result.get('exec_id') if isinstance(result, dict) else None
        if not isinstance(exec_id, str) or not re.fullmatch('[0-9a-f]{64}', exec_id):
            raise exception.ZunException(_msg("zunvmd answered no exec id: %r" % (result,)))
        while len(self._consoles) >= MAX_PENDING_EXECS:  # the oldest cannot be resized any more
            self._consoles.pop(next(iter(self._consoles)))
        self._consoles[exec_id] = cid
        return exec_id

    def execute_resize(self, exec_id, height, width):
        cid = self._consoles.get(exec_id)
        if cid is None:
            raise exception.Invalid(_msg("Exec instance %s could not be found." % exec_id))
        self._call(self.api.action, cid, 'execute_resize',
                   params={'exec_id': exec_id, 'h': _to_int(height, 0), 'w': _to_int(width, 0)})

    def get_websocket_url(self, context, container):
        """zunvmd's attach URL, with its single-use ticket (Zun's proxy sends no credentials
        and opens it once, soon: the ticket's ttl is [console] ticket_ttl)."""
        url = self._call(self.api.query, self._require_id(container), 'attach',
                         container=container)
        if not isinstance(url, str) or not url.startswith(('ws://', 'wss://')):
            raise exception.ZunException(_msg("zunvmd answered no websocket URL: %r" % (url,)))
        return url

    def resize(self, context, container, height, width):
        self._call(self.api.action, self._require_id(container), 'resize',
                   params={'h': _to_int(height, 0), 'w': _to_int(width, 0)},
                   container=container)
        return container

    def top(self, context, container, ps_args=None):
        params = {'ps_args': ps_args} if ps_args else None
        return self._call(self.api.query, self._require_id(container), 'top', params=params,
                          container=container)

    def stats(self, context, container):
        return self._call(self.api.query, self._require_id(container), 'stats',
                          container=container)

    def get_archive(self, context, container, path):
        res = self._call(self.api.query, self._require_id(container), 'get_archive',
                         params={'path': path}, container=container)
        try:
            data = base64.b64decode(res['data'], validate=True)
            stat = res['stat']
        except (KeyError, TypeError, ValueError):
            raise ZunvmError(error_msg='zunvmd sent a malformed archive')
        return data, stat

    def put_archive(self, context, container, path, data):
        if isinstance(data, str):
            data = data.encode('latin-1')
        self._call(self.api.action, self._require_id(container), 'put_archive',
                   params={'path': path},
                   body={'data': base64.b64encode(data).decode('ascii')},
                   container=container)
        return True

    def update(self, context, container):
        changes = container.obj_get_changes()
        body = {}
        if 'cpu' in changes and container.cpu is not None:
            body['cpu'] = container.cpu
        if 'memory' in changes and container.memory is not None:
            body['memory'] = _memory_mib(container.memory)
        if not body:
            return container
        view = self._call(self.api.patch, self._require_id(container), body,
                          container=container)
        reason = view.get('status_reason') if isinstance(view, dict) else None
        if reason:
            container.status_reason = reason
        return container

    def commit(self, context, container, repository=None, tag=None):
        params = {'repository': str(repository)}
        if tag not in (None, 'None'):
            params['tag'] = str(tag)
        res = self._call(self.api.action, self._require_id(container), 'commit',
                         params=params, container=container,
                         timeout=CONF.zunvm.create_timeout)
        return res.get('uuid')

    # --- images ---------------------------------------------------------------------------
    def pull_image(self, context, repo, tag, image_pull_policy='always', driver_name=None,
                   registry=None):
        if driver_name and driver_name.split('.')[0] != 'docker':
            raise ZunvmNotSupported(what='Image driver %s (zunvmd pulls from registries)'
                                    % driver_name)
        if repo == CONF.sandbox_image.rsplit(':', 1)[0]:
            # zun-compute pulls [DEFAULT] sandbox_image before every capsule; zunvmd's capsule
            # is a VM and has no pause container, so that image is never needed (nor fetched:
            # compute hosts without Docker Hub would fail every capsule on it).
            return ({'image': repo, 'path': None, 'driver': 'docker', 'repo': repo,
                     'tag': tag or 'latest', 'id': None, 'image_id': None}, True)
        policy = (image_pull_policy or 'ifnotpresent').lower()
        img = self._call(self.api.pull, repo, tag or 'latest', policy,
                         CONF.zunvm.create_timeout, image='%s:%s' % (repo, tag))
        return ({'image': repo, 'path': None, 'driver': 'docker', 'repo': repo,
                 'tag': tag or 'latest', 'id': img.get('uuid'),
                 'image_id': img.get('image_id')}, True)

    def load_image(self, image_path=None):
        if not image_path:
            return
        with open(image_path, 'rb') as f:
            data = f.read()
        self._call(self.api.request, 'POST', '/images/import', data=data,
                   headers={'Content-Type': 'application/x-tar'},
                   timeout=CONF.zunvm.create_timeout)

    def read_tar_image(self, image):
        return image

    def _find_image(self, name):
        repo, _, tag = name.rpartition(':')
        if not repo or '/' in tag:
            repo, tag = name, 'latest'
        for img in self._call(self.api.images):
            if img.get('repo') == repo and (img.get('tag') or 'latest') == tag:
                return img
            if img.get('uuid') == name or img.get('image_id') == name:
                return img
        raise exception.ImageNotFound(image=name)

    def inspect_image(self, image):
        img = self._find_image(image)
        tag = '%s:%s' % (img.get('repo'), img.get('tag') or 'latest')
        return {'Id': img.get('image_id'), 'RepoTags': [tag], 'Size': img.get('size') or 0,
                'zunvm_uuid': img.get('uuid')}

    def get_image(self, name):
        """The image as `docker save` bytes (for Zun's commit, which uploads them to Glance)."""
        img = self._find_image(name)
        res = self._call(self.api.request, 'GET',
                         '/images/%s/export' % zclient.quote(img['uuid']),
                         timeout=CONF.zunvm.create_timeout)
        try:
            return base64.b64decode(res['data'], validate=True)
        except (KeyError, TypeError, ValueError):
            raise ZunvmError(error_msg='zunvmd sent a malformed image export')

    def search_image(self, context, repo, tag, driver_name, exact_match):
        if driver_name and driver_name != 'docker':
            raise ZunvmNotSupported(what='Image driver %s' % driver_name)
        params = {'exact_match': 'true' if exact_match else 'false'}
        term = repo
        host, sep, rest = repo.partition('/')
        if sep and ('.' in host or ':' in host or host == 'localhost'):
            params['registry'], term = host, rest
        return self._call(self.api.request, 'GET',
                          '/images/%s/search' % zclient.quote(term), params=params)

    def delete_image(self, context, img_id, image_driver=None):
        if not img_id:
            return
        try:
            self.api.request('DELETE', '/images/' + zclient.quote(img_id))
        except zclient.ApiError as e:
            if e.status != 404:
                raise _translate(e)
        except zclient.Unreachable as e:
            raise _translate(e)

    # Glance's side of a commit: the manager passes the Glance image driver.
    def create_image(self, context, image_name, image_driver):
        return image_driver.create_image(context, image_name)

    def upload_image_data(self, context, image, image_tag, image_data, image_driver):
        # zun.image.glance.driver.GlanceDriver.update_image(context, img_id, disk_format=,
        # container_format=, tag=): the data is a `docker save` tar, as Zun's docs upload it.
        image_driver.update_image(context, image.id, disk_format='raw',
                                  container_format='docker', tag=image_tag)
        if isinstance(image_data, (bytes, bytearray)):
            # glanceclient uploads from a file-like object (GlanceDriver turns only docker-py's
            # generators into one)
            image_data = io.BytesIO(image_data)
        return image_driver.upload_image_data(context, image.id, image_data)

    def delete_committed_image(self, context, img_id, image_driver):
        """Removes the Glance image of a failed commit. The manager calls this inside its
        error handler and then deletes zunvmd's image: a Glance failure here is logged, not
        raised, so that it neither hides the first error nor skips that delete."""
        try:
            image_driver.delete_committed_image(context, img_id)
        except Exception as e:
            LOG.warning('Could not delete the committed image %s in Glance: %s', img_id, e)

    # --- the host -------------------------------------------------------------------------
    def _host_view(self):
        hosts = self._call(self.api.hosts)
        if not hosts:
            raise ZunvmError(error_msg='zunvmd reports no host')
        return hosts[0]

    # [compute] *_allocation_ratio default to None, and zun-compute's container_update
    # multiplies by them: fall back to the initial_* ratios placement also starts from.
    def get_cpu_allocation_ratio(self):
        return self.cpu_allocation_ratio or CONF.compute.initial_cpu_allocation_ratio

    def get_ram_allocation_ratio(self):
        return self.ram_allocation_ratio or CONF.compute.initial_ram_allocation_ratio

    def node_support_disk_quota(self):
        return True

    def get_host_default_base_size(self):
        return None

    def get_total_disk_for_container(self):
        total = int(self._host_view().get('disk_total') or 0)
        reserved = int(total * CONF.compute.reserve_disk_for_image)
        return total, reserved

    def get_available_resources(self):
        data = super(ZunvmDriver, self).get_available_resources()
        h = self._host_view()
        for key in ('total_containers', 'running_containers', 'paused_containers',
                    'stopped_containers', 'cpus', 'architecture', 'os_type', 'os',
                    'kernel_version', 'mem_total', 'mem_free', 'mem_available'):
            if key in h:
                data[key] = h[key]
        labels = h.get('labels') or {}
        data['labels'] = {str(k): str(v) for k, v in labels.items()}
        runtimes = [str(r) for r in (h.get('runtimes') or [])]
        if 'kata' not in runtimes:
            runtimes.append('kata')
        data['runtimes'] = runtimes
        data['disk_quota_supported'] = True
        return data

    # --- capsules: zunvmd's /v1/capsules (zunvm_zun.capsule) ---------------------------------
    def create_capsule(self, context, capsule, image=None, requested_networks=None,
                       requested_volumes=None):
        """The capsule Running in zunvmd (init containers run there first), it and its
        members' statuses saved; `image` is the manager's sandbox_image, unused."""
        return zcapsule.create(self, context, capsule, requested_networks, requested_volumes)

    def delete_capsule(self, context, capsule, force=False):
        """Returns once zunvmd no longer has the capsule; then its Neutron ports."""
        zcapsule.delete(self, context, capsule, force)

    # --- not (yet) offered by zunvmd -----------------------------------------------------
    def add_security_group(self, context, container, security_group, **kwargs):
        raise ZunvmNotSupported(what='Security groups')

    def remove_security_group(self, context, container, security_group, **kwargs):
        raise ZunvmNotSupported(what='Security groups')

    def network_attach(self, context, container, requested_network):
        if not CONF.zunvm.use_neutron:
            raise ZunvmNotSupported(what='Attaching Neutron networks')
        network = requested_network['network']
        if network in (container.addresses or {}):
            raise exception.Conflict(_msg('Container %s is already connected to network %s.'
                                          % (container.uuid, network)))
        neutron_api = self._neutron_api(context)
        addresses, entry = self._plug_port(neutron_api, context, container, requested_network)
        try:
            self._call(self.api.action, self._require_id(container), 'network_attach',
                       body={'net': entry}, container=container)
        except Exception:
            self._unplug_ports(context, container, {network: addresses}, neutron_api)
            raise
        merged = dict(container.addresses or {})
        merged[network] = addresses
        container.addresses = merged
        container.save(context)

    def network_detach(self, context, container, network):
        if not CONF.zunvm.use_neutron:
            raise ZunvmNotSupported(what='Detaching Neutron networks')
        addresses = (container.addresses or {}).get(network) or []
        for port in sorted({a['port'] for a in addresses if a.get('port')}):
            try:
                self.api.action(self._require_id(container), 'network_detach',
                                params={'port': port})
            except zclient.ApiError as e:
                if e.status != 404:  # zunvmd no longer has it: only Neutron's side is left
                    raise _translate(e, container=container)
            except zclient.Unreachable as e:
                raise _translate(e)
        self._unplug_ports(context, container, {network: addresses})
        update = dict(container.addresses or {})
        update.pop(network, None)
        container.addresses = update
        container.save(context)

    def create_network(self, context, network):
        raise ZunvmNotSupported(what='Creating networks')

    def delete_network(self, context, network):
        raise ZunvmNotSupported(what='Deleting networks')


def _is_capsule(obj):
    capsule_cls = getattr(objects, 'Capsule', None)
    return capsule_cls is not None and isinstance(obj, capsule_cls)


def _shell_quote(word):
    if word and all(c.isalnum() or c in '@%+=:,./-_' for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


__all__ = ['ZunvmDriver', 'ZunvmError', 'ZunvmNotSupported']
