#!/usr/bin/env bash
# Builds our container images without docker or a registry: static binaries
# packed by mkimage (hack/tools/images) into docker-archive tarballs under
# .cache/images/, named kuberaft.local/<name>:<tag>.
#
# Usage: hack/build-images.sh [TAG]     (default TAG: dev)
#   raftnode  <- ./cmd/raftnode   (skipped with a message if it does not exist)
#   operator  <- ./cmd/operator   (same)
#   smokeapp  <- hack/tools/images/smokeapp (the cluster smoke test's workload)
#   pause:3.10 (the pod sandbox image; its tag is fixed)
#   minio:<commit> (the S3 server the backup e2e scenarios store to; built
#     from its Go module by `hack/build-tools.sh minio`, tag fixed by the
#     module version; packed once: its tarball is kept while the binary is
#     unchanged)
# Prints one line per image: reference, digest, tarball.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-dev}
IMAGES_DIR="$ROOT/.cache/images"
REPO=kuberaft.local
cd "$ROOT"

"$ROOT/hack/build-tools.sh" images minio
BIN=$("$ROOT/hack/build-tools.sh" print-bin)
mkdir -p "$IMAGES_DIR" "$ROOT/bin"

pack() { # pack NAME TAG BINARY [mkimage flags]
  "$BIN/mkimage" -tag "$REPO/$1:$2" -o "$IMAGES_DIR/$1-$2.tar" -file "$3:/$1" "${@:4}"
}

for name in raftnode operator; do
  if ! compgen -G "cmd/$name/*.go" >/dev/null; then
    echo "build-images: ./cmd/$name does not exist yet: skipping the $name image" >&2
    continue
  fi
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "bin/$name" "./cmd/$name"
  # distroless's nonroot user, numeric so that the kubelet can verify
  # runAsNonRoot; the pod specs name it as well (restricted Pod Security).
  pack "$name" "$TAG" "bin/$name" -user 65532:65532
done
pack smokeapp "$TAG" "$BIN/smokeapp"
"$BIN/mkimage" -tag "$REPO/pause:3.10" -o "$IMAGES_DIR/pause.tar" -file "$BIN/pause:/pause"

# The server is large (≈110 MB): pack it only when its binary changed.
MINIO_TAR="$IMAGES_DIR/minio.tar"
if [[ ! -f "$MINIO_TAR" || "$BIN/minio" -nt "$MINIO_TAR" ]]; then
  "$BIN/mkimage" -tag "$("$ROOT/hack/build-tools.sh" print-minio-image)" -o "$MINIO_TAR" -file "$BIN/minio:/minio"
fi
