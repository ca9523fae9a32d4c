#!/usr/bin/env bash
# One-time (idempotent) machine set-up for zunvm on Debian 12: installs every Debian package
# the build, the product and the tests need, then configures and builds the tree.
# Safe to run again: apt is skipped when everything is present, the build is incremental.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries of the daemon
  libcpprest-dev libboost-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libssl-dev uuid-dev libinih-dev libexpected-dev libarchive-dev libseccomp-dev libvirt-dev e2fsprogs docker-registry skopeo
  # tests
  googletest libgtest-dev libgmock-dev
  # guest image and VMs (kernel unpacked with dpkg -x, initramfs with cpio)
  qemu-system-x86 libvirt-daemon-system libvirt-clients cpio xz-utils kmod file binutils
  # networks: namespaces, bridges and taps (iproute2), the optional NAT (nftables), OpenStack
  # mode's Open vSwitch (its end-to-end test)
  iproute2 nftables openvswitch-switch
  # end-to-end clients and tools
  busybox-static curl openssl python3-openstackclient python3-zunclient wrk sqlite3 procps
  # /metrics: a real Prometheus scrapes zunvmd, and its text parses with the Python client
  prometheus python3-prometheus-client
  # the console tests drive the CLI in real terminals
  tmux
  # the Zun driver (python/) and its tests; the devstack plugin's checks
  python3-requests python3-oslo.config python3-oslo.log python3-keystoneauth1 python3-stevedore python3-setuptools
  python3-pip python3-pytest shellcheck systemd
  # the commit tests reach a fake Glance through the real glanceclient, as Zun's GlanceDriver does
  python3-glanceclient
  # auth_strategy = keystone's end-to-end test runs a real Keystone on loopback
  python3-keystone
  # tests/tempest/run.sh: Zun's API tests (zun-tempest-plugin) under Debian's tempest
  python3-tempest python3-docker
  # consoles: the CLI's websocket client; Zun's websocket proxy (websockify) in test_zun_console.py
  python3-websocket python3-websockify
  # runtimes (docs/runtimes.md): the OCI runtimes the generated config.json runs under, its
  # JSON schema (runtime-spec, shipped with runtime-tools) and a validator
  runc crun conmon golang-github-opencontainers-runtime-tools-dev python3-jsonschema
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" != "--no-build" ]]; then
  "$root/scripts/build.sh"
fi
