#!/usr/bin/env bash
# Prepares FUSE for node/internal/powerfail and TestPowerLoss (make fuse).
# Idempotent: does nothing when everything is in place.
#
# The tests mount with mount(2) directly (go-fuse DirectMountStrict), so
# they need /dev/fuse and root, not a setuid helper. fuse3 is installed for
# fusermount3, to clear a mount left behind by a killed test run:
#   fusermount3 -u <dir>/mnt
set -euo pipefail

if [[ ! -c /dev/fuse ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "fuse.sh: /dev/fuse is missing and only root can create it" >&2
    exit 1
  fi
  # The FUSE misc device: major 10, minor 229 (kernel Documentation/admin-guide/devices.txt).
  mknod -m 0666 /dev/fuse c 10 229
fi
if ! grep -qw fuse /proc/filesystems; then
  echo "fuse.sh: the kernel has no FUSE support (no 'fuse' in /proc/filesystems)" >&2
  exit 1
fi
if ! command -v fusermount3 >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "fuse.sh: fusermount3 is missing; install the fuse3 package as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3 >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3 >/dev/null; }
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "fuse.sh: the power-loss tests mount with mount(2) and must run as root" >&2
  exit 1
fi
