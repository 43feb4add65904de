#!/usr/bin/env bash
# A 3-node kind cluster on this offline machine, for the e2e suite's
# multi-node scenarios (make e2e-kind) and `make demo KIND=1`.
#
#   up          host packages, dockerd with runcwrap (hack/kind/docker.sh),
#               the offline node image (hack/kind/build-node-image.sh, cached),
#               `kind create cluster` (1 control plane, untainted, + 2
#               workers), pod networking (hack/kind/cni.sh), host routes to
#               pods and Services (hack/e2e/kind-routes.sh), our images loaded.
#   down        deletes the cluster, removes the routes, stops dockerd if up
#               started it and puts the host's iptables/sysctls back.
#   kubeconfig  prints the kubeconfig path.
#
# The control plane is untainted so that 3 nodes can hold a 3-member cluster
# one member per node (the "spread" scenario) and a drain leaves 2 nodes.
# Never run it while the offline cluster (hack/local-cluster.sh) is up: both
# change iptables; make e2e-kind runs under the same flock as the offline e2e.
#
# Usage: hack/kind-cluster.sh up|down|kubeconfig
# Env: KIND_CLUSTER (default kuberaft), TAG (our images, default dev),
#   KIND_NODE_IMAGE (a node image to use instead of the offline-built one),
#   KIND_SKIP_LOAD=1 (do not build and load our images)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIND_CLUSTER=${KIND_CLUSTER:-kuberaft}
TAG=${TAG:-dev}
CACHE="$ROOT/.cache/kind"
KUBECONFIG_PATH="$CACHE/kubeconfig"
# kind's own defaults, written down because the CNI and the routes use them.
export KIND_POD_SUBNET=10.244.0.0/16 KIND_SERVICE_SUBNET=10.96.0.0/16
# Generous bound for nodes to become Ready on a loaded 2-core machine.
READY_TIMEOUT=600s
# shellcheck source=hack/kind/images.env
source "$ROOT/hack/kind/images.env"

log() { printf '%s kind-cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# tools puts kind, kubectl 1.36 and Debian's docker CLI (matched to its
# dockerd) first in PATH.
tools() {
  "$ROOT/hack/kind/host-packages.sh"
  "$ROOT/hack/build-tools.sh" kind k8s images >&2
  local bin; bin=$("$ROOT/hack/build-tools.sh" print-bin)
  mkdir -p "$CACHE/path"
  ln -sfn /usr/bin/docker "$CACHE/path/docker"
  ln -sfn "$bin/kind" "$CACHE/path/kind"
  ln -sfn "$bin/kubectl" "$CACHE/path/kubectl"
  PATH="$CACHE/path:$PATH"
  "$ROOT/hack/kind/build-node-image.sh" image-tools
  RUNCWRAP="$CACHE/bin/runcwrap"
}

# node_image makes sure docker has the node image of the current build and
# prints its name; the tag carries the build's stamp, so a rebuilt image is
# imported once and an unchanged one not at all.
node_image() {
  if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then echo "$KIND_NODE_IMAGE"; return; fi
  local tar stamp image
  tar=$("$ROOT/hack/kind/build-node-image.sh")
  stamp=$(basename "$tar" .tar); stamp=${stamp#node-}
  image="kuberaft.local/kind-node:$K8S_VERSION-$stamp"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    log "importing $tar as $image"
    docker import --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
      --change 'ENV container=docker' "$tar" "$image" >&2
  fi
  echo "$image"
}

kind_config() {
  local image=$1
  cat <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  # Pod networking is hack/kind/cni.sh (kindnetd cannot be built offline).
  disableDefaultCNI: true
  podSubnet: $KIND_POD_SUBNET
  serviceSubnet: $KIND_SERVICE_SUBNET
nodes:
- {role: control-plane, image: $image}
- {role: worker, image: $image}
- {role: worker, image: $image}
kubeadmConfigPatches:
- |
  kind: ClusterConfiguration
  imageRepository: $IMAGE_REPOSITORY
  dns:
    imageTag: $COREDNS_TAG
- |
  kind: KubeletConfiguration
  # The host is cgroup v1 (hybrid); kubelet 1.36 refuses v1 without this.
  failCgroupV1: false
EOF
}

up() {
  tools
  "$ROOT/hack/kind/docker.sh" start "$RUNCWRAP"
  local start=$SECONDS image
  image=$(node_image)
  mkdir -p "$CACHE"
  if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    log "$KIND_CLUSTER exists"
    kind export kubeconfig --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH"
  else
    kind_config "$image" > "$CACHE/kind-config.yaml"
    log "creating cluster $KIND_CLUSTER from $image"
    local create_start=$SECONDS
    kind create cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH" --config "$CACHE/kind-config.yaml" --retain ||
      { debug_dump; kind delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true; exit 1; }
    log "kind create took $((SECONDS - create_start))s"
  fi
  export KUBECONFIG="$KUBECONFIG_PATH"
  kubectl taint nodes --all node-role.kubernetes.io/control-plane:NoSchedule- >/dev/null 2>&1 || true
  KIND_CLUSTER=$KIND_CLUSTER "$ROOT/hack/kind/cni.sh"
  kubectl wait --for=condition=Ready nodes --all --timeout="$READY_TIMEOUT" ||
    { debug_dump; exit 1; }
  kubectl -n kube-system rollout status deployment/coredns --timeout="$READY_TIMEOUT"
  KIND_CLUSTER=$KIND_CLUSTER "$ROOT/hack/e2e/kind-routes.sh" add
  log "cluster ready in $((SECONDS - start))s (including the image build check)"
  if [[ "${KIND_SKIP_LOAD:-0}" != 1 ]]; then # the e2e suite loads its own tags
    "$ROOT/hack/build-images.sh" "$TAG"
    "$ROOT/hack/load-images.sh" "$TAG"
  fi
  log "up; export KUBECONFIG=$KUBECONFIG_PATH"
}

# debug_dump shows why nodes did not come up: kubelet and containerd logs.
debug_dump() {
  local n
  for n in $(kind get nodes --name "$KIND_CLUSTER" 2>/dev/null); do
    echo "=== $n: journalctl -u kubelet -u containerd (tail)" >&2
    docker exec "$n" journalctl --no-pager -u kubelet -u containerd 2>&1 | tail -n 40 >&2 || true
  done
}

# tools_path is tools without building anything (for down).
tools_path() {
  local bin; bin=$("$ROOT/hack/build-tools.sh" print-bin)
  mkdir -p "$CACHE/path"
  ln -sfn /usr/bin/docker "$CACHE/path/docker"
  ln -sfn "$bin/kind" "$CACHE/path/kind"
  ln -sfn "$bin/kubectl" "$CACHE/path/kubectl"
  PATH="$CACHE/path:$PATH"
}

down() {
  tools_path
  if docker info >/dev/null 2>&1; then
    KIND_CLUSTER=$KIND_CLUSTER "$ROOT/hack/e2e/kind-routes.sh" del || true
    kind delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KUBECONFIG_PATH" || true
    docker network rm kind >/dev/null 2>&1 || true
  fi
  rm -f "$KUBECONFIG_PATH"
  "$ROOT/hack/kind/docker.sh" stop
}

case ${1:-} in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
