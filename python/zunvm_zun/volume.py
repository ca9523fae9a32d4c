"""zun-compute's volume drivers for zunvm: ``[volume] driver_list = zunvm_cinder,zunvm_local``.

Zun's own drivers (zun/volume/driver.py) mount a Cinder volume on the host, or write an injected
file on the host, for Docker to bind-mount. A zunvm container runs in its own VM, which must
not share a host mount, so these keep Zun's steps except the host side:

* ``ZunvmCinder`` is Zun's ``Cinder`` without its mount: ``attach`` still reserves the volume,
  initializes the connection, connects it with os-brick and attaches it in Cinder (Zun's
  ``CinderWorkflow``), and leaves the connected device's path in the volume mapping's
  ``connection_info['data']['device_path']`` (saved); a re-attach (``connection_info`` already
  set: zun-compute's remount at start-up) connects again and saves the path os-brick gives now.
  ``detach`` still begins detaching, disconnects (os-brick), terminates the connection and
  detaches in Cinder, and does not look for a mount point. The caller (``ZunvmDriver``) makes
  sure zunvmd no longer has the container, so no VM holds the device when it is disconnected.
  ``attach`` also records this host on the mapping, which Zun's detach needs to disconnect at
  all (see ``ZunvmCinder.attach``).
* ``ZunvmLocal`` is Zun's ``Local`` (file injection) without the host file: the bytes go to
  zunvmd in the create.
* ``bind_mount`` returns None: nothing is mounted on the host. ``mount_item`` is what
  ``ZunvmDriver.create`` sends zunvmd for the mapping (an item of ``mounts``).
"""

from oslo_log import log as logging
from oslo_serialization import jsonutils

from zun.common import exception
import zun.conf
from zun.volume import driver as zun_volume

CONF = zun.conf.CONF
LOG = logging.getLogger(__name__)

# zunvmd's serial of a block device, which the guest agent finds the disk by: the first 20
# characters of the Cinder volume id (a virtio-blk serial holds 20 bytes).
SERIAL_LENGTH = 20

# ZunvmCinder skips the host mount by overriding these two steps of Zun's Cinder driver: if a
# Zun no longer has them, fail loading rather than mount on the host.
if not all(hasattr(zun_volume.Cinder, hook) for hook in ('_mount_device', '_unmount_device')):
    raise ImportError('zun.volume.driver.Cinder has no _mount_device/_unmount_device: '
                      'zunvm_zun.volume does not know this Zun')


class ZunvmCinder(zun_volume.Cinder):
    """Cinder volumes handed to the container's VM as raw block devices."""

    def attach(self, context, volmap):
        # The manager sets volmap.host before volmap.create(), but Zun drops it when zun-api
        # made the Volume row (VolumeMapping._create_volume), and CinderWorkflow.detach_volume
        # disconnects and terminates the connection only when this host has exactly one
        # mapping of the volume: with no host recorded it never does. Set, it is saved with
        # connection_info, so the last container of the host using the volume releases it.
        volmap.host = CONF.host
        super(ZunvmCinder, self).attach(context, volmap)

    # Zun's Cinder.attach/detach call these two around its workflow; they are the only host
    # mount steps, so they are all that changes.
    def _mount_device(self, volmap, devpath):
        pass

    def _unmount_device(self, volmap):
        pass

    def bind_mount(self, context, volmap):
        return None

    def mount_item(self, volmap):
        """zunvmd's `block` mount of the device os-brick connected for this mapping."""
        try:
            data = jsonutils.loads(volmap.connection_info)['data']
            device_path = data['device_path']
        except (TypeError, ValueError, KeyError):
            raise exception.ZunException(
                'Volume %s has no connected device (connection_info without device_path)'
                % volmap.cinder_volume_id)
        return {'type': 'block', 'device_path': device_path,
                'serial': volmap.cinder_volume_id[:SERIAL_LENGTH],
                'destination': volmap.container_path,
                'read_only': data.get('access_mode') == 'ro'}


class ZunvmLocal(zun_volume.Local):
    """Injected files (Zun's `local` provider): nothing on the host, the bytes go to zunvmd."""

    def attach(self, context, volmap):
        pass

    def detach(self, context, volmap):
        pass

    def delete(self, context, volmap):
        pass

    def bind_mount(self, context, volmap):
        return None

    def mount_item(self, volmap):
        """zunvmd's `bind` mount: the file's contents, base64 as zun-api keeps them."""
        return {'type': 'bind', 'source': volmap.contents, 'destination': volmap.container_path}


# The volume provider of a mapping (zun-api sets 'cinder' or 'local') -> zunvm's driver for it.
ZUNVM_DRIVERS = {'cinder': ZunvmCinder, 'local': ZunvmLocal}


def by_provider(loaded):
    """The volume drivers Zun's BaseDriver loaded from [volume] driver_list (entry-point name ->
    driver), keyed by the providers they serve, as ``_get_volume_driver`` looks them up (by
    ``volume_mapping.volume_provider``, not by the name in driver_list). Zun's own drivers
    for 'cinder' and 'local' (the default driver_list) are replaced by zunvm's: theirs mount or
    write on the host, which the container's VM cannot see."""
    out = {}
    for name, vd in loaded.items():
        for provider in getattr(vd, 'supported_providers', ()):
            if isinstance(vd, tuple(ZUNVM_DRIVERS.values())):
                out[provider] = vd
            elif provider in ZUNVM_DRIVERS:
                LOG.warning("[volume] driver_list: %s would mount on the host, which a zunvm "
                            "VM cannot use: using zunvm_%s instead", name, provider)
                out[provider] = ZUNVM_DRIVERS[provider]()
            else:
                LOG.warning("[volume] driver_list: %s (provider %s) is not usable with "
                            "zunvm: left out", name, provider)
    return out
