#!/usr/bin/env bash
# Installs, idempotently, the Debian packages the kind path needs on the host:
# docker.io (dockerd 20.10 + the docker CLI kind drives), mmdebstrap (builds
# the node rootfs from Debian packages, no docker pull), jq and iproute2.
# Installs nothing when they are all present.
#
# Usage: hack/kind/host-packages.sh
set -euo pipefail

PACKAGES=(docker.io mmdebstrap jq iproute2 iptables)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "host-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
