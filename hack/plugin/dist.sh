#!/usr/bin/env bash
# Builds kubectl-raft for each platform of plugins/raft.yaml into
# OUT/kubectl-raft_<os>_<arch>.tar.gz (reproducible: -trimpath, fixed
# mtime and owner) and renders OUT/raft.yaml with the version and the
# archives' sha256. URI_BASE is where the archives will be published.
#
# Usage: hack/plugin/dist.sh VERSION OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:?usage: dist.sh VERSION OUT} out=${2:?usage: dist.sh VERSION OUT}
URI_BASE=${URI_BASE:-file://$PWD/$out}
GO=${GO:-go}
mkdir -p "$out"
manifest=$(sed -e "s|@VERSION@|$version|g" -e "s|@URI_BASE@|$URI_BASE|g" plugins/raft.yaml)
for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  os=${platform%/*} arch=${platform#*/}
  dir=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -ldflags "-s -w" -o "$dir/kubectl-raft" ./cmd/kubectl-raft
  cp LICENSE "$dir/" 2>/dev/null || true
  archive=$out/kubectl-raft_${os}_${arch}.tar.gz
  tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -czf "$archive" .
  rm -rf "$dir"
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  manifest=${manifest//@SHA256_${os}_${arch}@/$sum}
  echo "plugin-dist: $archive $sum"
done
printf '%s\n' "$manifest" >"$out/raft.yaml"
echo "plugin-dist: $out/raft.yaml"
