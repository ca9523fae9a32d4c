#!/usr/bin/env bash
# Zun's own API tests (zun-tempest-plugin) against zunvmd with a real Keystone and real VMs.
# usage: ZUNVM_TEMPEST_PLUGIN_SRC=/path/to/zun-tempest-plugin tests/tempest/run.sh [--versions 1.40] [--filter REGEX] [--keep]
# Needs the builds and guest image of scripts/test.sh (it runs this when the variable is set)
# and Debian's python3-tempest, python3-keystone, docker-registry and skopeo (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${ZUNVM_TEMPEST_PLUGIN_SRC:?set ZUNVM_TEMPEST_PLUGIN_SRC to a checkout of openstack/zun-tempest-plugin}"
"$root/guest/start-libvirt.sh"
exec /usr/bin/python3 "$root/tests/tempest/run_tempest.py" "$@"
