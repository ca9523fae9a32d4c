#!/usr/bin/env bash
# Runs the product: set-up if needed (Debian packages, build), then zunvmd in the foreground on
# 127.0.0.1:9517 with its embedded defaults and a local state dir (.zunvm-state/ in the
# checkout; override with ZUNVM_STATE_DIR). Extra arguments go to zunvmd, e.g.
#   scripts/run.sh --config-file etc/zun/zunvm.conf.sample --debug
# Then: openstack --os-auth-type none --os-endpoint http://127.0.0.1:9517/v1 appcontainer list
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
state=${ZUNVM_STATE_DIR:-$root/.zunvm-state}
# busybox:latest from Debian's busybox-static, so `appcontainer run busybox ...` works offline.
"$root/guest/build-busybox-image.sh" "$root/build/images/busybox.tar"
"$root/build/zunvmd" import-image --state-dir "$state" "$root/build/images/busybox.tar"
exec "$root/build/zunvmd" --state-dir "$state" "$@"
