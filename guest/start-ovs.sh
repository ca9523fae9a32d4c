#!/usr/bin/env bash
# Starts Open vSwitch's ovsdb-server and ovs-vswitchd when they are not running (machines
# without systemd), on Debian's default paths, and waits until ovs-vsctl answers. Idempotent.
# For OpenStack mode's end-to-end test: without the openvswitch kernel module (containers,
# this machine) bridges must use the userspace datapath (datapath_type=netdev).
set -euo pipefail
mkdir -p /var/run/openvswitch /var/log/openvswitch
if [[ ! -s /etc/openvswitch/conf.db ]]; then
  ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
fi
if ! pgrep -x ovsdb-server >/dev/null; then
  ovsdb-server /etc/openvswitch/conf.db --remote=punix:/var/run/openvswitch/db.sock \
    --pidfile --detach --log-file
fi
ovs-vsctl --timeout=30 --no-wait init
pgrep -x ovs-vswitchd >/dev/null || ovs-vswitchd --pidfile --detach --log-file
for _ in $(seq 1 150); do
  ovs-vsctl --timeout=5 show >/dev/null 2>&1 && ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "Open vSwitch did not answer" >&2
exit 1
