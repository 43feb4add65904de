#!/usr/bin/env bash
# The e2e suite talks to pods and ClusterIPs directly from the host. The
# offline local cluster routes them already; for a kind cluster on Linux,
# this adds host routes to kind's pod and service CIDRs via the kind node's
# container address (root needed). NOT TESTED on the project's offline
# machines (no Docker there).
#
# Usage: hack/e2e/kind-routes.sh add|del   Env: KIND_CLUSTER (default kuberaft)
set -euo pipefail

KIND_CLUSTER=${KIND_CLUSTER:-kuberaft}
POD_CIDR=${KIND_POD_CIDR:-10.244.0.0/16}      # kind's default podSubnet
SERVICE_CIDR=${KIND_SERVICE_CIDR:-10.96.0.0/16} # kind's default serviceSubnet

node="$KIND_CLUSTER-control-plane"
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node")
[[ -n "$ip" ]] || { echo "kind-routes: no address for container $node" >&2; exit 1; }

case ${1:-add} in
  add)
    ip route replace "$POD_CIDR" via "$ip"
    ip route replace "$SERVICE_CIDR" via "$ip"
    echo "kind-routes: $POD_CIDR and $SERVICE_CIDR via $node ($ip)"
    ;;
  del)
    ip route del "$POD_CIDR" via "$ip" 2>/dev/null || true
    ip route del "$SERVICE_CIDR" via "$ip" 2>/dev/null || true
    echo "kind-routes: removed"
    ;;
  *) echo "usage: $0 add|del" >&2; exit 2 ;;
esac
