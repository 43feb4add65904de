#!/usr/bin/env bash
# Pod networking for the offline kind cluster, without kindnetd (its Go module
# is nested and untagged, so it cannot be built from the module proxy): the
# standard CNI plugins from Debian's containernetworking-plugins, set up the
# way kindnetd would.
#
# For every node: wait for the podCIDR the controller-manager allocates,
# write /etc/cni/net.d/10-kuberaft.conflist (ptp + host-local over that CIDR,
# portmap), and on every other node add `ip route <podCIDR> via <node IP>`
# (all nodes share kind's docker network, so one hop). Not self-healing: a
# node container that restarts needs `hack/kind/cni.sh` again (up runs it).
# No NetworkPolicy enforcement and no pod masquerade (nothing outside the
# cluster is reachable offline anyway; the host routes back to pods itself,
# see hack/e2e/kind-routes.sh).
#
# Usage: KUBECONFIG=... hack/kind/cni.sh     Env: KIND_CLUSTER (default kuberaft)
set -euo pipefail

KIND_CLUSTER=${KIND_CLUSTER:-kuberaft}
# Bound for the controller-manager to allocate podCIDRs (seconds).
CIDR_TIMEOUT=300

log() { printf '%s cni: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

node_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

pod_cidr() {
  local deadline=$((SECONDS + CIDR_TIMEOUT)) cidr
  while :; do
    cidr=$(kubectl get node "$1" -o jsonpath='{.spec.podCIDR}' 2>/dev/null || true)
    [[ -n "$cidr" ]] && { echo "$cidr"; return; }
    ((SECONDS < deadline)) || { log "node $1 has no podCIDR after ${CIDR_TIMEOUT}s"; return 1; }
    sleep 2
  done
}

conflist() {
  cat <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kuberaft",
  "plugins": [
    {"type": "ptp", "ipMasq": false, "mtu": 1500,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$1"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

mapfile -t nodes < <(kind get nodes --name "$KIND_CLUSTER")
[[ ${#nodes[@]} -gt 0 ]] || { log "no nodes in kind cluster $KIND_CLUSTER"; exit 1; }
declare -A cidr ip
for n in "${nodes[@]}"; do
  cidr[$n]=$(pod_cidr "$n")
  ip[$n]=$(node_ip "$n")
  [[ -n "${ip[$n]}" ]] || { log "no address for node container $n"; exit 1; }
done
for n in "${nodes[@]}"; do
  conflist "${cidr[$n]}" | docker exec -i "$n" sh -c 'mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-kuberaft.conflist'
  for peer in "${nodes[@]}"; do
    [[ "$peer" == "$n" ]] && continue
    docker exec "$n" ip route replace "${cidr[$peer]}" via "${ip[$peer]}"
  done
  log "$n: pods ${cidr[$n]} (node ${ip[$n]})"
done
