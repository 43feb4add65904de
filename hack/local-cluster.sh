#!/usr/bin/env bash
# The offline single-node Kubernetes for tests: upstream components built from
# Go modules (hack/build-tools.sh), Debian's containerd/runc/CNI plugins, all
# run as plain host processes. See hack/README.md.
#
# Usage: hack/local-cluster.sh up|down|status|kubeconfig
#   up          build what is missing, start everything, wait for Node Ready
#               and DNS; a no-op when the cluster is already up
#   down        stop every process it started (PID files), remove the pods'
#               network and mounts, iptables chains, CNI state and data,
#               restore sysctls; keeps logs/ for debugging
#   status      exit 0 when every component runs and the API is ready
#   kubeconfig  print the admin kubeconfig's path
#
# Environment: CLUSTER_DIR (default .cache/cluster), NODE_IP (default: the
# address of the default route's interface), NODE_NAME (default kuberaft-node).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HACK="$ROOT/hack"
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cache/cluster}
PKI="$CLUSTER_DIR/pki"
ETC="$CLUSTER_DIR/etc"
DATA="$CLUSTER_DIR/data"
LOGS="$CLUSTER_DIR/logs"
PIDS="$CLUSTER_DIR/pids"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig"
SYSCTL_SAVE="$CLUSTER_DIR/sysctl-before.txt"
CREATED_PATHS="$CLUSTER_DIR/created-paths.txt"
IMAGES_DIR="$ROOT/.cache/images"

NODE_NAME=${NODE_NAME:-kuberaft-node}
CLUSTER_DOMAIN=cluster.local
SERVICE_CIDR=10.0.0.0/24
APISERVER_SVC_IP=10.0.0.1
DNS_SVC_IP=10.0.0.10
POD_CIDR=10.88.0.0/16
CNI_BRIDGE=kuberaft0
CNI_BIN_DIR=/usr/lib/cni
APISERVER_PORT=6443
# Not 2379/2380: the node's tests and benchmarks use etcd's ports.
ETCD_CLIENT=127.0.0.1:12379
ETCD_PEER=127.0.0.1:12380
# Our own containerd socket and state, so a containerd already on the
# machine (the default socket) is neither used nor disturbed.
CONTAINERD_STATE=/run/kuberaft/containerd
CONTAINERD_SOCK=$CONTAINERD_STATE/containerd.sock
PAUSE_IMAGE=kuberaft.local/pause:3.10
# Volumes of StorageClass standard: one directory each, made mode 0777 by
# hack/tools/k8s/hostpathprovisioner (so non-root pods can write them).
HOSTPATH_PV_DIR=/tmp/hostpath_pv
HOSTPATH_PROVISIONER=kuberaft.io/hostpath

# Started in this order, stopped in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager hostpath-provisioner kube-scheduler containerd kubelet kube-proxy coredns)
# Host settings kubelet, kube-proxy or we change; restored by down.
SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet kernel.panic kernel.panic_on_oops
  vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
# Paths outside CLUSTER_DIR that kubelet or containerd create whatever we
# configure; removed by down when they did not exist before up.
# (/run/containerd: the shims' sockets and runc's state, fixed paths in
# containerd 1.6 whatever its state dir.)
HOST_PATHS=(/var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/kuberaft /run/containerd /run/netns "$HOSTPATH_PV_DIR")

log() { printf '%s local-cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=hack/cluster/pki.sh
source "$HACK/cluster/pki.sh"
# shellcheck source=hack/cluster/config.sh
source "$HACK/cluster/config.sh"
# shellcheck source=hack/cluster/procs.sh
source "$HACK/cluster/procs.sh"
# shellcheck source=hack/cluster/clean.sh
source "$HACK/cluster/clean.sh"

tool_bin() { "$HACK/build-tools.sh" print-bin; }

detect_node_ip() {
  [[ -n "${NODE_IP:-}" ]] && return
  local dev
  dev=$(ip -4 route show default | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')
  [[ -n "$dev" ]] && NODE_IP=$(ip -4 -o addr show dev "$dev" scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
  if [[ -z "${NODE_IP:-}" ]]; then
    NODE_IP=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
  fi
  # Pods reach the API through the kubernetes Service, which must not
  # point at loopback: a non-loopback node address is required.
  [[ -n "${NODE_IP:-}" ]] || die "no non-loopback IPv4 address: set NODE_IP"
}

preflight() {
  [[ "$(uname -s)" == Linux ]] || die "Linux only (use hack/kind-cluster.sh elsewhere)"
  [[ $EUID -eq 0 ]] || die "must run as root (kubelet, containerd, iptables)"
  local missing=() pkg cmd
  for pkg in containerd:containerd runc:runc containernetworking-plugins:$CNI_BIN_DIR/bridge \
    iptables:iptables conntrack:conntrack curl:curl; do
    cmd=${pkg#*:}
    if [[ "$cmd" == /* ]]; then [[ -x "$cmd" ]] || missing+=("${pkg%%:*}"); else command -v "$cmd" >/dev/null || missing+=("${pkg%%:*}"); fi
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing Debian packages: ${missing[*]}"
    # Should the package start Debian's own containerd (hosts with systemd
    # and no policy-rc.d), that one serves the default socket, not ours.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$LOGS/apt.log" 2>&1 ||
      { apt-get update -q >>"$LOGS/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$LOGS/apt.log" 2>&1; } ||
      die "apt-get install ${missing[*]} failed, see $LOGS/apt.log"
  fi
  modprobe overlay 2>/dev/null || true
  modprobe br_netfilter 2>/dev/null || true
}

check_ports_free() {
  local port
  for port in "127.0.0.1:${ETCD_CLIENT##*:}" "127.0.0.1:${ETCD_PEER##*:}" ":$APISERVER_PORT" ":10250" ":10257" ":10259" "$NODE_IP:53"; do
    if ss -Hltun "sport = :${port##*:}" | awk '{print $5}' | grep -qE "^(\*|0\.0\.0\.0|\[::\]|${port%:*}):${port##*:}\$"; then
      # Name the holder: often another checkout's cluster (one per machine).
      die "port $port is in use: $(ss -Hltunp "sport = :${port##*:}" | grep -o 'users:.*' | head -1) $(holder_dir "${port##*:}")"
    fi
  done
}

# holder_dir PORT names the cluster dir of the process listening on PORT
# when it is a local cluster of another checkout.
holder_dir() {
  local pid
  pid=$(ss -Hltunp "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  [[ -n "$pid" ]] || return 0
  tr '\0' '\n' </proc/"$pid"/cmdline 2>/dev/null | grep -o '^/.*/\.cache/cluster/' | head -1 |
    sed 's|\(.*\)/$|(a local cluster of \1: stop it with CLUSTER_DIR=\1 hack/local-cluster.sh down, or use its kubeconfig)|'
}

# import_images loads the pause image (needed before the first pod) and any
# image tarball already built into .cache/images.
import_images() {
  local bin=$1 tar
  mkdir -p "$IMAGES_DIR"
  "$bin/mkimage" -tag "$PAUSE_IMAGE" -o "$IMAGES_DIR/pause.tar" -file "$bin/pause:/pause" >/dev/null
  for tar in "$IMAGES_DIR"/*.tar; do
    ctr_k8s images import "$tar" >/dev/null || die "ctr import $tar failed"
  done
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --connect-timeout 2s -n k8s.io "$@"; }

kubectl_admin() { "$(tool_bin)/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

dns_answers() {
  "$1/smokeapp" lookup -server "$DNS_SVC_IP:53" "kubernetes.default.svc.$CLUSTER_DOMAIN" >/dev/null 2>&1
}

cmd_up() {
  mkdir -p "$LOGS" "$PIDS" "$ETC" "$DATA"
  if all_running && api_ready; then
    log "already up (kubeconfig: $KUBECONFIG_PATH)"
    return
  fi
  if any_running || [[ -n "$(orphan_pids)" ]]; then
    log "partly up: taking it down first"
    cmd_down
    mkdir -p "$LOGS" "$PIDS" "$ETC" "$DATA"
  fi
  local start=$SECONDS bin
  preflight
  "$HACK/build-tools.sh" etcd k8s clusterconfig coredns images
  bin=$(tool_bin)
  detect_node_ip
  check_ports_free
  log "node $NODE_NAME at $NODE_IP, state in $CLUSTER_DIR"
  record_host_state
  sysctl -qw net.ipv4.ip_forward=1
  gen_pki "$bin"
  gen_kubeconfigs "$bin"
  write_containerd_config
  write_component_configs "$bin"
  write_corefile
  write_bootstrap
  start_control_plane "$bin"
  start_containerd
  import_images "$bin"
  kubectl_admin apply -f "$ETC/bootstrap.yaml" >"$LOGS/bootstrap.log" 2>&1 || die "bootstrap objects failed, see $LOGS/bootstrap.log"
  start_node "$bin"
  wait_for "Node $NODE_NAME Ready" 60 node_ready
  wait_for "DNS answers at $DNS_SVC_IP" 60 dns_answers "$bin"
  wait_for "default ServiceAccount" 60 kubectl_admin get serviceaccount default -o name
  log "up in $((SECONDS - start))s; export KUBECONFIG=$KUBECONFIG_PATH"
}

node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

api_ready() {
  [[ -f "$KUBECONFIG_PATH" ]] && kubectl_admin get --raw /readyz --request-timeout=5s >/dev/null 2>&1
}

cmd_down() {
  local start=$SECONDS
  [[ $EUID -eq 0 ]] || die "must run as root"
  stop_all
  clean_host
  rm -rf "$DATA" "$PIDS" "$ETC" "$PKI" "$KUBECONFIG_PATH"
  log "down in $((SECONDS - start))s; logs kept in $LOGS"
}

cmd_status() {
  local c rc=0 pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(running_pid "$c"); then
      printf '  %-24s running  pid %s\n' "$c" "$pid"
    else
      printf '  %-24s stopped\n' "$c"
      rc=1
    fi
  done
  if [[ $rc -eq 0 ]] && api_ready; then
    kubectl_admin get nodes -o wide 2>&1 | sed 's/^/  /'
  else
    rc=1
  fi
  echo "  kubeconfig: $KUBECONFIG_PATH   logs: $LOGS"
  return $rc
}

main() {
  # Say where and why the script stops, instead of exiting silently.
  set -E
  trap 'log "ERROR: line $LINENO: \"$BASH_COMMAND\" failed"' ERR
  trap 'log "ERROR: interrupted by a signal"; exit 130' INT TERM HUP
  case ${1:-} in
    up | down)
      # One up or down at a time: a down racing an up deletes the PKI and
      # PID files under it. Components are started with this fd closed.
      mkdir -p "$CLUSTER_DIR"
      exec 8>"$CLUSTER_DIR/.lock"
      flock -w 600 8 || die "another up/down has held $CLUSTER_DIR/.lock for 10 minutes"
      "cmd_$1"
      ;;
    status) cmd_status || exit 1 ;;
    kubeconfig) echo "$KUBECONFIG_PATH" ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

# Sourcing the script (tests, debugging) defines the functions only.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
