"""zun/container/driver.py: the loaders and the three driver base classes.

BaseDriver's host figures come from /proc/meminfo and the root filesystem as in Zun; the
volume drivers Zun loads in BaseDriver.__init__ are left out (the tests attach none), and
the NUMA topology is a plain object with `nodes`.
"""
import os
import sys

from stevedore import driver as stevedore_driver

from zun.common import exception
import zun.conf

CONF = zun.conf.CONF


def load_container_driver(container_driver=None):
    name = container_driver or CONF.container_driver
    try:
        drv = stevedore_driver.DriverManager("zun.container.driver", name,
                                             invoke_on_load=True).driver
    except ImportError:
        sys.exit(1)
    if not isinstance(drv, ContainerDriver):
        raise Exception('Expected driver of type: %s' % str(ContainerDriver))
    return drv


def load_capsule_driver():
    drv = stevedore_driver.DriverManager("zun.capsule.driver", CONF.capsule_driver,
                                         invoke_on_load=True).driver
    if not isinstance(drv, CapsuleDriver):
        raise Exception('Expected driver of type: %s' % str(CapsuleDriver))
    return drv


class NUMATopology(object):
    def __init__(self, nodes=None):
        self.nodes = nodes or []


class BaseDriver(object):
    """Base class for driver."""

    def __init__(self):
        self.volume_drivers = {}
        self.cpu_allocation_ratio = CONF.compute.cpu_allocation_ratio
        self.ram_allocation_ratio = CONF.compute.ram_allocation_ratio

    def get_host_numa_topology(self):
        return NUMATopology()

    def get_pci_resources(self):
        return '[]'

    def get_host_mem(self):
        info = {}
        with open('/proc/meminfo') as f:
            for line in f:
                key, _, rest = line.partition(':')
                info[key] = int(rest.split()[0])
        total = info['MemTotal']
        free = info['MemFree']
        available = info.get('MemAvailable', free)
        return total, free, available, total - free

    def get_total_disk_for_container(self):
        st = os.statvfs('/')
        total = st.f_frsize * st.f_blocks / (1024 ** 3)
        return int(total), int(total * CONF.compute.reserve_disk_for_image)

    def _get_volume_driver(self, volume_mapping):
        raise exception.ZunException("volume drivers are not in the stand-in")

    def attach_volume(self, context, volume_mapping):
        raise NotImplementedError()

    def detach_volume(self, context, volume_mapping):
        raise NotImplementedError()

    def delete_volume(self, context, volume_mapping):
        raise NotImplementedError()

    def is_volume_available(self, context, volume_mapping):
        raise NotImplementedError()

    def is_volume_deleted(self, context, volume_mapping):
        raise NotImplementedError()

    def get_available_nodes(self):
        return [CONF.host]

    def node_support_disk_quota(self):
        return False

    def get_host_default_base_size(self):
        return None

    def get_available_resources(self):
        data = {}
        data['numa_topology'] = self.get_host_numa_topology()
        mem_total, mem_free, mem_ava, mem_used = self.get_host_mem()
        data['mem_total'] = mem_total // 1024
        data['mem_free'] = mem_free // 1024
        data['mem_available'] = mem_ava // 1024
        data['mem_used'] = mem_used // 1024
        disk_total, disk_reserved = self.get_total_disk_for_container()
        data['disk_total'] = disk_total - disk_reserved
        data['disk_quota_supported'] = self.node_support_disk_quota()
        data['enable_cpu_pinning'] = CONF.compute.enable_cpu_pinning
        return data

    def node_is_available(self, nodename):
        return nodename in self.get_available_nodes()

    def get_cpu_allocation_ratio(self):
        return self.cpu_allocation_ratio

    def get_ram_allocation_ratio(self):
        return self.ram_allocation_ratio

    def capabilities_as_traits(self):
        return {}.fromkeys(self.capabilities)


class ContainerDriver(object):
    """Interface for container driver."""

    def create(self, context, container, **kwargs):
        raise NotImplementedError()

    def commit(self, context, container, repository, tag):
        raise NotImplementedError()

    def delete(self, context, container, force):
        raise NotImplementedError()

    def list(self, context):
        raise NotImplementedError()

    def update_containers_states(self, context, containers, manager):
        raise NotImplementedError()

    def show(self, context, container):
        raise NotImplementedError()

    def reboot(self, context, container):
        raise NotImplementedError()

    def stop(self, context, container):
        raise NotImplementedError()

    def start(self, context, container):
        raise NotImplementedError()

    def pause(self, context, container):
        raise NotImplementedError()

    def unpause(self, context, container):
        raise NotImplementedError()

    def show_logs(self, context, container, stdout=True, stderr=True,
                  timestamps=False, tail='all', since=None):
        raise NotImplementedError()

    def execute_create(self, context, container, command, **kwargs):
        raise NotImplementedError()

    def execute_run(self, exec_id):
        raise NotImplementedError()

    def execute_resize(self, exec_id, height, width):
        raise NotImplementedError()

    def kill(self, context, container, signal):
        raise NotImplementedError()

    def get_websocket_url(self, context, container):
        raise NotImplementedError()

    def resize(self, context, container, height, weight):
        raise NotImplementedError()

    def top(self, context, container, ps_args):
        raise NotImplementedError()

    def get_archive(self, context, container, path):
        raise NotImplementedError()

    def put_archive(self, context, container, path, data):
        raise NotImplementedError()

    def stats(self, context, container):
        raise NotImplementedError()

    def update(self, context, container):
        raise NotImplementedError()

    def add_security_group(self, context, container, security_group, **kwargs):
        raise NotImplementedError()

    def remove_security_group(self, context, container, security_group, **kwargs):
        raise NotImplementedError()

    def network_detach(self, context, container, network):
        raise NotImplementedError()

    def network_attach(self, context, container, requested_network):
        raise NotImplementedError()

    def create_network(self, context, network):
        raise NotImplementedError()

    def delete_network(self, context, network):
        raise NotImplementedError()

    def pull_image(self, context, repo, tag, **kwargs):
        raise NotImplementedError()

    def search_image(self, context, repo, tag, driver_name, exact_match):
        raise NotImplementedError()

    def create_image(self, context, image_name, image_driver):
        raise NotImplementedError()

    def upload_image_data(self, context, image, image_tag, image_data, image_driver):
        raise NotImplementedError()

    def delete_committed_image(self, context, img_id, image_driver):
        raise NotImplementedError()

    def delete_image(self, context, img_id, image_driver):
        raise NotImplementedError()


class CapsuleDriver(object):
    """Interface for capsule driver."""

    def create_capsule(self, context, capsule, **kwargs):
        raise NotImplementedError()

    def delete_capsule(self, context, capsule, **kwargs):
        raise NotImplementedError()
