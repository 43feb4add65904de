#!/usr/bin/env bash
# The e2e suite talks to pods and ClusterIPs directly from the host. The
# offline local cluster routes them already; for a kind cluster this adds
# host routes (root needed): each node's podCIDR via that node's address on
# kind's docker network, and the Service CIDR via the control-plane node
# (kube-proxy masquerades traffic from outside the pod CIDR, so replies come
# back the same way). The routes added are recorded, and `del` removes
# exactly those, even after the cluster is gone.
#
# Usage: hack/e2e/kind-routes.sh add|del
# Env: KIND_CLUSTER (default kuberaft), KIND_SERVICE_SUBNET (10.96.0.0/16),
#   KUBECONFIG (the kind cluster's), KIND_STATE_DIR (.cache/kind/state)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIND_CLUSTER=${KIND_CLUSTER:-kuberaft}
SERVICE_CIDR=${KIND_SERVICE_SUBNET:-10.96.0.0/16} # kind's default serviceSubnet
STATE=${KIND_STATE_DIR:-$ROOT/.cache/kind/state}
ROUTES="$STATE/routes-$KIND_CLUSTER"

node_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

add() {
  mkdir -p "$STATE"
  local n ip cidr
  : > "$ROUTES.new"
  for n in $(kind get nodes --name "$KIND_CLUSTER"); do
    ip=$(node_ip "$n")
    cidr=$(kubectl get node "$n" -o jsonpath='{.spec.podCIDR}')
    [[ -n "$ip" && -n "$cidr" ]] || { echo "kind-routes: node $n has no address or podCIDR" >&2; exit 1; }
    echo "$cidr $ip" >> "$ROUTES.new"
    if [[ "$n" == "$KIND_CLUSTER-control-plane" ]]; then echo "$SERVICE_CIDR $ip" >> "$ROUTES.new"; fi
  done
  mv "$ROUTES.new" "$ROUTES"
  while read -r dst via; do
    ip route replace "$dst" via "$via"
    echo "kind-routes: $dst via $via"
  done < "$ROUTES"
}

del() {
  [[ -f "$ROUTES" ]] || return 0
  while read -r dst via; do
    ip route del "$dst" via "$via" 2>/dev/null || true
  done < "$ROUTES"
  rm -f "$ROUTES"
  echo "kind-routes: removed"
}

case ${1:-add} in
  add) add ;;
  del) del ;;
  *) echo "usage: $0 add|del" >&2; exit 2 ;;
esac
