#!/usr/bin/env bash
# Loads the image tarballs of one tag (from hack/build-images.sh) into the
# cluster the tests use: kind when the current kubectl context is a kind
# cluster (kind load image-archive), else the offline local cluster's
# containerd (ctr import into the k8s.io namespace) when it is up.
#
# Usage: hack/load-images.sh [TAG]      (default TAG: dev)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-dev}
IMAGES_DIR="$ROOT/.cache/images"
CONTAINERD_SOCK=/run/kuberaft/containerd/containerd.sock # as hack/local-cluster.sh
BIN=$("$ROOT/hack/build-tools.sh" print-bin)
PATH="$BIN:$PATH"

shopt -s nullglob
tars=("$IMAGES_DIR"/*-"$TAG".tar "$IMAGES_DIR/pause.tar")
[[ -f "$IMAGES_DIR/minio.tar" ]] && tars+=("$IMAGES_DIR/minio.tar") # the backup scenarios' S3 server
[[ ${#tars[@]} -gt 1 || -f "$IMAGES_DIR/pause.tar" ]] || { echo "load-images: no tarballs for tag $TAG in $IMAGES_DIR: run hack/build-images.sh $TAG" >&2; exit 1; }

context=$(kubectl config current-context 2>/dev/null || true)
if [[ "$context" == kind-* ]]; then
  for tar in "${tars[@]}"; do
    [[ "$tar" == */pause.tar ]] && continue # kind nodes bring their own pause image
    echo "load-images: kind load image-archive $tar (cluster ${context#kind-})"
    kind load image-archive "$tar" --name "${context#kind-}"
  done
elif [[ -S "$CONTAINERD_SOCK" ]]; then
  for tar in "${tars[@]}"; do
    echo "load-images: ctr import $tar"
    ctr --address "$CONTAINERD_SOCK" --connect-timeout 2s -n k8s.io images import "$tar" >/dev/null
  done
else
  echo "load-images: no cluster to load into (no kind context, local cluster not up); tarballs stay in $IMAGES_DIR" >&2
fi
