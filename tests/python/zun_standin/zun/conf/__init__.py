"""zun.conf.CONF: oslo.config's global CONF with the few Zun options the driver reads."""
import socket

from oslo_config import cfg

CONF = cfg.CONF

CONF.register_opts([
    cfg.StrOpt('host', default=socket.gethostname()),
    cfg.StrOpt('container_driver', default='docker'),
    cfg.StrOpt('capsule_driver', default='cri'),
    cfg.StrOpt('sandbox_image', default='kubernetes/pause'),  # zun/conf/image_driver.py
    cfg.IntOpt('default_disk', default=10),
])
CONF.register_opts([
    cfg.FloatOpt('reserve_disk_for_image', default=0.2),
    cfg.FloatOpt('cpu_allocation_ratio', default=None),
    cfg.FloatOpt('ram_allocation_ratio', default=None),
    cfg.FloatOpt('initial_cpu_allocation_ratio', default=16.0),
    cfg.FloatOpt('initial_ram_allocation_ratio', default=1.5),
    cfg.BoolOpt('enable_cpu_pinning', default=False),
], group='compute')
CONF.register_opts([cfg.ListOpt('driver_list', default=['cinder', 'local'])], group='volume')
