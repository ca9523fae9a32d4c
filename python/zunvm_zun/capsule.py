"""Capsules (Zun's pods) through zunvmd's /v1/capsules, for ZunvmDriver.

zun-compute's manager hands a Capsule to create_capsule / delete_capsule (after pulling
[DEFAULT] sandbox_image through the container driver, which zunvmd does not use) and passes
the Capsules to update_containers_states. zunvmd runs the whole capsule itself (one VM, the
init containers one after another, then the containers), so the driver:

  * create: rebuilds the capsule's template from the Zun objects (the API's own conversion,
    undone: `template`) and POSTs it with the Zun uuids and names of the capsule and its
    members (`members`: init containers first, in the capsule's order), and in OpenStack mode
    the Neutron ports it plugged for the capsule (`nets`); waits until zunvmd's capsule is no
    longer Creating; copies status, status_reason, addresses, host and container_id onto the
    capsule and each member (matched by uuid) and saves them all. A capsule zunvmd ends in
    Error (an init container failed, an image is missing...) is a failed create: the members'
    statuses are saved, the capsule is deleted in zunvmd and its ports released, and a
    ZunvmError naming zunvmd's reason is raised (the manager then records the capsule in Error
    with that reason and unsets its host: no delete_capsule comes for it);
  * delete: DELETE, then waits until zunvmd answers 404 (its VM is gone); then the ports;
  * sync: GET per capsule of this host; a capsule zunvmd no longer has -> Error.

Cinder volumes (zun-api's `spec.volumes` / `volumeMounts`): the manager attaches them before
create_capsule through zunvm's volume driver (zunvm_cinder: os-brick connects the device on this
host, nothing is mounted) and passes one VolumeMapping per (member, mount). The capsule's POST
then names each distinct Cinder volume once in the rebuilt template (`spec.volumes`, `cinder:
{volumeID}`; the members' `volumeMounts` at their mappings' container_path) and gives zunvmd
its host device and serial in `block_volumes` (CapsuleVolumes): one disk of the capsule's VM,
which every member mounting it shares. The manager disconnects them after delete_capsule, which
returns only once zunvmd no longer has the capsule (and its VM).
Errors are the driver's: Zun exceptions through ZunvmDriver._call's translation.
"""

from oslo_log import log as logging

from zun.common import consts
import zun.conf

from zunvm_zun import client as zclient
from zunvm_zun import driver as zdriver  # a cycle: only its attributes at call time

CONF = zun.conf.CONF
LOG = logging.getLogger(__name__)

# Zun's restart_policy names back to the template's (utils.VALID_CAPSULE_RESTART_POLICY).
RESTART_POLICIES = {'always': 'Always', 'on-failure': 'OnFailure', 'no': 'Never'}
# image_pull_policy as Zun stores it (lower case) -> as a template writes it.
PULL_POLICIES = {'always': 'Always', 'ifnotpresent': 'IfNotPresent', 'never': 'Never'}


# --- the template -----------------------------------------------------------------------------

def _field(obj, name):
    """obj.name, or None when the Zun object never had it set (no lazy load, no error)."""
    is_set = getattr(obj, 'obj_attr_is_set', None)
    if is_set is not None and not is_set(name):
        return None
    return getattr(obj, name, None)


def members(capsule):
    """The capsule's members as zunvmd orders them: init containers first, then containers."""
    return list(capsule.init_containers or []) + list(capsule.containers or [])


def _ports(exposed_ports):
    """Zun's exposed_ports ({"80/tcp": {}}) as template ports, sorted."""
    out = []
    for key in sorted(exposed_ports or {}):
        port, _, proto = str(key).partition('/')
        try:
            number = int(port)
        except ValueError:
            continue
        out.append({'containerPort': number, 'protocol': (proto or 'tcp').upper()})
    return sorted(out, key=lambda p: (p['containerPort'], p['protocol']))


def member_template(member):
    """One container of the template, from a CapsuleContainer / CapsuleInitContainer as zun-api
    made it (command already holds the template's args); empty and None fields left out."""
    t = {'image': _field(member, 'image')}
    command = _field(member, 'command')
    if command:
        t['command'] = [str(w) for w in command]
    env = _field(member, 'environment')
    if env:
        t['env'] = {str(k): str(v) for k, v in env.items()}
    workdir = _field(member, 'workdir')
    if workdir:
        t['workDir'] = workdir
    requests = {}
    cpu = _field(member, 'cpu')
    if cpu is not None:
        requests['cpu'] = float(cpu)
    memory = _field(member, 'memory')
    if memory not in (None, ''):
        requests['memory'] = int(str(memory).rstrip('Mm'))
    if requests:
        t['resources'] = {'requests': requests}
    ports = _ports(_field(member, 'exposed_ports'))
    if ports:
        t['ports'] = ports
    if _field(member, 'interactive'):
        t['stdin'] = True
    if _field(member, 'tty'):
        t['tty'] = True
    policy = _field(member, 'image_pull_policy')
    if policy:
        t['imagePullPolicy'] = PULL_POLICIES.get(str(policy).lower(), policy)
    return t


def template(capsule, volumes=None):
    """The capsule's Zun template, rebuilt from the Zun objects (zun-api turned the user's
    template into these objects; this is that conversion backwards); with `volumes` (a
    CapsuleVolumes) its spec.volumes and the members' volumeMounts."""
    meta = {}
    for key in ('name', 'labels', 'annotations'):
        value = _field(capsule, key)
        if value:
            meta[key] = dict(value) if isinstance(value, dict) else value
    spec = {}
    policy = (_field(capsule, 'restart_policy') or {}).get('Name')
    if policy in RESTART_POLICIES:
        spec['restartPolicy'] = RESTART_POLICIES[policy]
    if volumes is not None and volumes.spec:
        spec['volumes'] = volumes.spec

    def member(m):
        t = member_template(m)
        mounts = volumes.mounts.get(m.uuid) if volumes is not None else None
        if mounts:
            t['volumeMounts'] = mounts
        return t
    inits = [member(m) for m in capsule.init_containers or []]
    if inits:
        spec['initContainers'] = inits
    spec['containers'] = [member(m) for m in capsule.containers or []]
    return {'kind': 'capsule', 'metadata': meta, 'spec': spec}


def create_body(capsule, volumes=None):
    """POST /v1/capsules' body, without `nets`; with `volumes` (a CapsuleVolumes that has
    any) the template's volumes and zunvmd's `block_volumes`."""
    body = {'template': template(capsule, volumes), 'uuid': capsule.uuid,
            'members': [{'uuid': m.uuid, 'name': m.name} for m in members(capsule)]}
    if volumes is not None and volumes.block:
        body['block_volumes'] = volumes.block
    return body


# --- Cinder volumes ---------------------------------------------------------------------------

def volume_name(cinder_volume_id, taken=()):
    """The name of a Cinder volume in the template (zunvmd: ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$):
    "v-" and the first 12 characters of its id, or all of them if another volume of the
    capsule has that name already."""
    name = 'v-' + cinder_volume_id[:12]
    return name if name not in taken else 'v-' + cinder_volume_id


class CapsuleVolumes(object):
    """The capsule's Cinder volumes as zunvmd's POST takes them, from the manager's
    requested_volumes ({member uuid: [VolumeMapping]}, attached by zunvm_cinder):

      * spec: the template's spec.volumes, one per distinct Cinder volume (first use first):
        {"name", "cinder": {"volumeID"}};
      * mounts: member uuid -> its volumeMounts [{"name", "mountPath"(, "readOnly": true)}];
      * block: the POST's block_volumes, name -> {"device_path", "serial"} (the device
        os-brick connected and the serial of a container's block mount of that volume).
    """

    def __init__(self, volume_drivers, capsule, requested_volumes):
        self.spec, self.mounts, self.block = [], {}, {}
        names = {}  # cinder volume id -> name
        for m in members(capsule):
            for volmap in (requested_volumes or {}).get(m.uuid) or []:
                item = self._block_item(volume_drivers, volmap)
                vid = volmap.cinder_volume_id
                name = names.get(vid)
                block = {'device_path': item['device_path'], 'serial': item['serial']}
                if name is None:
                    name = names[vid] = volume_name(vid, self.block)
                    self.spec.append({'name': name, 'cinder': {'volumeID': vid}})
                    self.block[name] = block
                elif self.block[name] != block:
                    raise zdriver.ZunvmError(error_msg=(
                        'volume %s of capsule %s is connected at %s and at %s'
                        % (vid, capsule.uuid, self.block[name]['device_path'],
                           item['device_path'])))
                mount = {'name': name, 'mountPath': volmap.container_path}
                if item.get('read_only'):
                    mount['readOnly'] = True
                self.mounts.setdefault(m.uuid, []).append(mount)

    @staticmethod
    def _block_item(volume_drivers, volmap):
        """The zunvm_cinder driver's block mount for the mapping (ZunvmDriver._mounts' rule)."""
        provider = getattr(volmap, 'volume_provider', None)
        vd = volume_drivers.get(provider)
        if provider != 'cinder' or not hasattr(vd, 'mount_item'):
            raise zdriver.ZunvmNotSupported(
                what="Attaching volumes of capsules (provider %s) without zunvm's Cinder "
                     "volume driver ([volume] driver_list = zunvm_cinder,zunvm_local)"
                     % provider)
        item = vd.mount_item(volmap)
        if item.get('type') != 'block':
            raise zdriver.ZunvmNotSupported(
                what='%s mounts in capsules' % item.get('type'))
        return item


# --- zunvmd's capsule endpoint ----------------------------------------------------------------

class _Capsules(object):
    """zunvmd's /v1/capsules through the driver's client: its container-shaped wait (poll with
    poll_interval until done(view), None once 404, a 408 ApiError past the deadline) reused
    on GET /v1/capsules/<uuid>."""

    wait = zclient.Client.wait

    def __init__(self, api):
        self.api = api
        self.poll_interval = getattr(api, 'poll_interval', None) or CONF.zunvm.poll_interval

    def create(self, body):
        return self.api.request('POST', '/capsules', body=body)

    def get(self, uuid):
        return self.api.request('GET', '/capsules/' + zclient.quote(uuid))

    def delete(self, uuid):
        return self.api.request('DELETE', '/capsules/' + zclient.quote(uuid))


def _or_none(fn, *args):
    """fn(*args), or None when zunvmd answers 404 (other errors raised, for drv._call)."""
    try:
        return fn(*args)
    except zclient.ApiError as e:
        if e.status == 404:
            return None
        raise


# --- copying zunvmd's state -------------------------------------------------------------------

def _status(view):
    status = view.get('status')
    return status if status in zdriver.KNOWN_STATUSES else consts.UNKNOWN


def _set(obj, name, value):
    if _field(obj, name) != value:
        setattr(obj, name, value)


def _copy_state(obj, view, addresses, container_id):
    """status, status_reason, addresses, host (this zun-compute's: zunvmd's own host name means
    nothing to Zun's RPC) and container_id, changed only where they differ."""
    _set(obj, 'status', _status(view))
    reason = view.get('status_reason')
    _set(obj, 'status_reason', reason if isinstance(reason, str) else None)
    if isinstance(addresses, dict):
        _set(obj, 'addresses', addresses)
    _set(obj, 'host', CONF.host)
    _set(obj, 'container_id', container_id)


def _member_views(view):
    out = {}
    for key in ('init_containers', 'containers'):
        for v in view.get(key) or []:
            if isinstance(v, dict) and v.get('uuid'):
                out[v['uuid']] = v
    return out


def apply_view(capsule, view):
    """Copies zunvmd's capsule view onto the capsule and its members (not saved). Addresses:
    zunvmd's in default mode; in OpenStack mode the capsule keeps Neutron's list (with the
    ports delete_capsule releases), which its members get too."""
    if CONF.zunvm.use_neutron:
        cap_addresses = capsule.addresses or {}
    else:
        cap_addresses = view.get('addresses')
        cap_addresses = cap_addresses if isinstance(cap_addresses, dict) else {}
    _copy_state(capsule, view, cap_addresses, capsule.uuid)
    views = _member_views(view)
    for m in members(capsule):
        mv = views.get(m.uuid)
        if mv is None:
            LOG.warning('zunvmd reports no member %s in capsule %s', m.uuid, capsule.uuid)
            continue
        addresses = cap_addresses
        if not CONF.zunvm.use_neutron and isinstance(mv.get('addresses'), dict) \
                and mv['addresses']:
            addresses = mv['addresses']
        _copy_state(m, mv, addresses, m.uuid)


def _save_changed(context, objs):
    for obj in objs:
        if obj.obj_get_changes():
            obj.save(context)


# --- the driver's calls -----------------------------------------------------------------------

def _settled(view):
    return view.get('status') not in (consts.CREATING,)


def create(drv, context, capsule, requested_networks, requested_volumes):
    """ZunvmDriver.create_capsule: the capsule Running in zunvmd, it and its members saved."""
    api = _Capsules(drv.api)
    body = create_body(capsule, CapsuleVolumes(drv.volume_drivers, capsule, requested_volumes))
    if CONF.zunvm.use_neutron:
        body['nets'] = drv._plug_ports(context, capsule, requested_networks or [])
    accepted = False
    try:
        drv._call(api.create, body)
        accepted = True
        capsule.container_id = capsule.uuid
        view = drv._call(api.wait, capsule.uuid, _settled, CONF.zunvm.create_timeout)
        if view is None:
            raise zdriver.ZunvmError(error_msg='capsule %s vanished while it was created'
                                     % capsule.uuid)
        apply_view(capsule, view)
        if capsule.status == consts.ERROR:
            _save_changed(context, members(capsule))  # which member failed, and why
            raise zdriver.ZunvmError(
                error_msg=capsule.status_reason or 'capsule %s failed' % capsule.uuid)
    except Exception:
        drv._undo_create(context, capsule, accepted, remove=lambda c: remove(drv, c))
        raise
    _save_changed(context, members(capsule))
    capsule.save(context)
    return capsule


def remove(drv, capsule):
    """DELETE in zunvmd and wait until it answers 404 (the VM is gone). ZunvmError when
    zunvmd's delete failed (the capsule is then Error there)."""
    api = _Capsules(drv.api)
    if drv._call(_or_none, lambda: api.delete(capsule.uuid) or True) is None:
        return  # zunvmd does not have it
    view = drv._call(api.wait, capsule.uuid, lambda v: v.get('status') == consts.ERROR,
                     CONF.zunvm.create_timeout)
    if view is not None:
        raise zdriver.ZunvmError(
            error_msg=view.get('status_reason') or 'delete of capsule %s failed' % capsule.uuid)


def delete(drv, context, capsule, force):
    """ZunvmDriver.delete_capsule: returns once zunvmd no longer has the capsule (also when it
    never had it: the ports are plugged and saved before the POST), then releases its ports.
    zunvmd always deletes a capsule forcibly: `force` changes nothing there."""
    remove(drv, capsule)
    if CONF.zunvm.use_neutron:
        drv._unplug_ports(context, capsule, capsule.addresses)


def sync(drv, context, capsules):
    """update_containers_states for the Capsules passed: those of this host that are neither
    mid-operation nor uncreated get zunvmd's statuses (theirs and their members'); one zunvmd
    no longer has is Error "No such capsule", its members too."""
    for capsule in capsules:
        if (capsule.host != CONF.host or not capsule.container_id or capsule.task_state or
                capsule.status in (consts.CREATING, consts.DELETING, consts.DELETED)):
            continue
        view = drv._call(_or_none, _Capsules(drv.api).get, capsule.uuid)
        if view is None:
            LOG.warning('Capsule %s was recorded in DB but missing in zunvmd', capsule.uuid)
            reason = 'No such capsule: %s in zunvmd' % capsule.uuid
            for obj in [capsule] + members(capsule):
                _set(obj, 'status', consts.ERROR)
                _set(obj, 'status_reason', reason)
        else:
            before = capsule.status
            apply_view(capsule, view)
            if capsule.status != before:
                LOG.info('Status of capsule %s changed from %s to %s',
                         capsule.uuid, before, capsule.status)
        _save_changed(context, members(capsule))
        _save_changed(context, [capsule])
