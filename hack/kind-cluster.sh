#!/usr/bin/env bash
# The kind path, for machines with Docker and internet access (it pulls kind's
# node image): a kind cluster with our image tarballs loaded, so the e2e suite
# runs against it unchanged. kind's default StorageClass is also "standard".
# NOT TESTED on the project's offline machines (no Docker, no registry).
#
# Usage: hack/kind-cluster.sh up|down|kubeconfig
# Environment: KIND_CLUSTER (default kuberaft), TAG (images, default dev),
#   KIND_NODE_IMAGE (optional node image; default: kind's own default)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIND_CLUSTER=${KIND_CLUSTER:-kuberaft}
TAG=${TAG:-dev}
KUBECONFIG_PATH="$ROOT/.cache/kind/kubeconfig"

tools() {
  command -v docker >/dev/null || { echo "kind-cluster: docker is required (use hack/local-cluster.sh without it)" >&2; exit 1; }
  "$ROOT/hack/build-tools.sh" kind k8s images
  PATH="$("$ROOT/hack/build-tools.sh" print-bin):$PATH"
}

up() {
  tools
  mkdir -p "$(dirname "$KUBECONFIG_PATH")"
  if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    echo "kind-cluster: $KIND_CLUSTER exists"
    kind export kubeconfig --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH"
  else
    kind create cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH" --wait 180s \
      ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
  fi
  "$ROOT/hack/build-images.sh" "$TAG"
  KUBECONFIG="$KUBECONFIG_PATH" "$ROOT/hack/load-images.sh" "$TAG"
  echo "kind-cluster: up; export KUBECONFIG=$KUBECONFIG_PATH"
}

down() {
  tools
  kind delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH"
  rm -f "$KUBECONFIG_PATH"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
