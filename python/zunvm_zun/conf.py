"""Options of the zunvm driver, in zun.conf's ``[zunvm]`` section."""

from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg

GROUP = cfg.OptGroup(name='zunvm', title='zunvm driver options',
                     help='How zun-compute reaches this host\'s zunvmd.')

OPTS = [
    cfg.URIOpt('api_url', default='http://127.0.0.1:9517', schemes=['http', 'https'],
               help='Base URL of this host\'s zunvmd (without /v1).'),
    cfg.StrOpt('auth_token', secret=True, default='',
               help='Sent as X-Auth-Token; must be one of zunvmd\'s [api] auth_tokens when '
                    'zunvmd runs with auth_strategy = token. Ignored when auth_type is set.'),
    cfg.StrOpt('ca_file', default='',
               help='PEM CA bundle to verify an https api_url; empty uses the system CAs.'),
    cfg.StrOpt('keystone_ca_file', default='',
               help='PEM CA bundle to verify an https auth_url (auth_type set); empty uses '
                    'the system CAs.'),
    cfg.FloatOpt('timeout', default=60.0, min=1.0,
                 help='Seconds one HTTP request to zunvmd may take (pulls and execs have '
                      'their own limits).'),
    cfg.IntOpt('create_timeout', default=600, min=1,
               help='Seconds a create, start, stop, reboot, delete... may take in zunvmd '
                    '(image pull plus VM boot for a create) before the driver gives up.'),
    cfg.IntOpt('exec_timeout', default=660, min=1,
               help='Seconds an execute request may take; keep it above zunvmd\'s '
                    '[DEFAULT] execute_timeout so zunvmd answers the timeout itself.'),
    cfg.FloatOpt('poll_interval', default=0.2, min=0.01,
                 help='Seconds between polls while waiting for zunvmd to finish an action.'),
    cfg.BoolOpt('use_neutron', default=False,
                help='OpenStack mode: make (or bind) a Neutron port for each requested network '
                     'and have zunvmd plug it into its [network] ovs_bridge, as Nova plugs '
                     'ports; ports made here are deleted with the container, ports the user '
                     'passed are unbound. False: containers use zunvmd\'s own networks.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    # auth_type (e.g. password) and, once loaded, its plugin's options (auth_url, username,
    # password, project_name, user_domain_name, project_domain_name...): for a zunvmd with
    # auth_strategy = keystone.
    ks_loading.register_auth_conf_options(conf, GROUP.name)


def keystone_session(conf):
    """A keystoneauth session for [zunvm]'s auth_type and its options (Keystone's CA:
    keystone_ca_file; each call to Keystone at most [zunvm] timeout), or None when no
    auth_type is set. The session caches its token and authenticates again before it expires;
    ``invalidate()`` forces a new one. Raises keystoneauth's errors for bad options."""
    auth = ks_loading.load_auth_from_conf_options(conf, GROUP.name)
    if auth is None:
        return None
    return ks_session.Session(auth=auth, verify=conf.zunvm.keystone_ca_file or True,
                              timeout=conf.zunvm.timeout)


def list_opts():
    return [(GROUP, OPTS + ks_loading.get_auth_common_conf_options() +
             ks_loading.get_auth_plugin_conf_options('password'))]
