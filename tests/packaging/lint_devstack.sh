#!/bin/bash
# devstack plugin files: bash syntax and shellcheck (sources followed).
set -euo pipefail
cd "$(dirname "$0")/../.."
for f in devstack/plugin.sh devstack/lib/zunvm devstack/settings; do
  bash -n "$f"
done
shellcheck -x devstack/plugin.sh devstack/lib/zunvm devstack/settings
echo "devstack plugin: bash -n and shellcheck clean"
