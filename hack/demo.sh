#!/usr/bin/env bash
# make demo: a working kuberaft in one command.
#
#   hack/demo.sh up     pick a cluster — the current kubeconfig if a cluster
#                       answers, else kind if Docker works, else the offline
#                       local cluster (hack/local-cluster.sh); KIND=1 always
#                       uses kind (hack/kind-cluster.sh) — build and load
#                       our images, helm install the operator, apply the
#                       sample RaftCluster, wait for Available, print its
#                       status, a put/get round trip through etcdctl, and
#                       finally `kubectl raft status` (make install-plugin).
#   hack/demo.sh down   undo it: the sample, the operator, the CRDs, and the
#                       cluster if `up` created it.
#
# Env: HELM, MAKE (from make), DEMO_TAG (image tag, default: the sample's
# spec.version), DEMO_PORT (local port of the port-forward, default 23790).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAKE=${MAKE:-make}
BIN=$(hack/build-tools.sh print-bin)
export PATH="$BIN:$PATH"
HELM=${HELM:-$BIN/helm}
STATE_DIR=$ROOT/.cache/demo
STATE=$STATE_DIR/state
SAMPLE=${DEMO_SAMPLE:-config/samples/raft_v1alpha1_raftcluster.yaml}
OP_NS=kuberaft-system
DEMO_NS=kuberaft-demo
RELEASE=kuberaft
DEMO_PORT=${DEMO_PORT:-23790}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
elapsed() { echo "($((SECONDS - $1))s)"; }

# pick_cluster sets KUBECONFIG and records in $STATE which cluster it used and
# whether the demo created it (so `down` only removes what `up` made).
pick_cluster() {
  mkdir -p "$STATE_DIR"
  if [[ "${KIND:-0}" == 1 ]]; then # make demo KIND=1: the offline-built kind cluster, or fail
    try_kind || die "KIND=1: the kind cluster could not be created"
  elif kubectl version --request-timeout=5s >/dev/null 2>&1; then
    echo "demo: using the cluster of the current kubeconfig ($(kubectl config current-context 2>/dev/null || echo '?'))"
    echo "kind=current created=0 kubeconfig=${KUBECONFIG:-}" >"$STATE"
  elif [[ -z "${KUBECONFIG:-}" ]] && hack/local-cluster.sh status >/dev/null 2>&1; then
    KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
    export KUBECONFIG
    echo "demo: using the offline local cluster that is already up"
    echo "kind=local created=0 kubeconfig=$KUBECONFIG" >"$STATE"
  elif command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1 && try_kind; then
    :
  else
    step "No cluster answers and no Docker: starting the offline local cluster (first run builds Kubernetes from source, ~15 min on 2 CPUs)"
    [[ $EUID -eq 0 ]] || die "the offline local cluster needs root (run: sudo make demo)"
    local t=$SECONDS created=1
    hack/local-cluster.sh status >/dev/null 2>&1 && created=0
    "$MAKE" cluster-up
    KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
    export KUBECONFIG
    echo "kind=local created=$created kubeconfig=$KUBECONFIG" >"$STATE"
    echo "demo: local cluster ready $(elapsed $t)"
  fi
}

# try_kind creates a kind cluster; false (so the local cluster is used)
# when that fails.
try_kind() {
  step "Creating a kind cluster (node image built offline by hack/kind/build-node-image.sh)"
  local t=$SECONDS
  if ! TAG=$TAG hack/kind-cluster.sh up; then
    echo "demo: kind failed; falling back to the offline local cluster" >&2
    return 1
  fi
  export KUBECONFIG=$ROOT/.cache/kind/kubeconfig
  echo "kind=kind created=1 kubeconfig=$KUBECONFIG" >"$STATE"
  echo "demo: kind cluster ready $(elapsed $t)"
}

# sample_field prints a top-level spec or metadata field of the sample.
sample_field() { sed -n "s/^  $1: *//p" "$SAMPLE" | head -1 | tr -d '"'"'"; }

up() {
  [[ -f "$SAMPLE" ]] || die "the sample $SAMPLE does not exist"
  NAME=$(sample_field name)
  TAG=${DEMO_TAG:-$(sample_field version)}
  TAG=${TAG:-dev}

  step "Tools: kubectl, helm, etcdctl (cached after the first build)"
  local t=$SECONDS
  hack/build-tools.sh helm etcd >/dev/null
  echo "demo: tools ready in $BIN $(elapsed $t)"

  pick_cluster

  step "Images kuberaft.local/{raftnode,operator}:$TAG: build and load into the cluster"
  t=$SECONDS
  hack/build-images.sh "$TAG"
  hack/load-images.sh "$TAG"
  echo "demo: images loaded $(elapsed $t)"

  step "Operator: helm upgrade --install $RELEASE charts/kuberaft -n $OP_NS"
  t=$SECONDS
  "$HELM" upgrade --install "$RELEASE" charts/kuberaft --namespace "$OP_NS" --create-namespace \
    --set image.tag="$TAG" --wait --timeout 5m
  echo "demo: operator running $(elapsed $t)"

  step "RaftCluster: kubectl apply -f $SAMPLE -n $DEMO_NS"
  kubectl create namespace "$DEMO_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "$DEMO_NS" apply -f "$SAMPLE"
  t=$SECONDS
  echo "demo: waiting (up to 5 min) for $NAME to become Available"
  if ! kubectl -n "$DEMO_NS" wait "raftcluster/$NAME" --for=condition=Available --timeout=5m; then
    kubectl -n "$DEMO_NS" get raftcluster,pods -o wide || true
    die "$NAME did not become Available; see: kubectl -n $OP_NS logs deploy/$RELEASE"
  fi
  echo "demo: Available $(elapsed $t)"

  step "Status"
  kubectl -n "$DEMO_NS" get raftcluster -o wide
  kubectl -n "$DEMO_NS" get pods -L raft.kuberaft.io/role -o wide

  step "put/get round trip: etcdctl through kubectl port-forward svc/$NAME $DEMO_PORT:2379"
  roundtrip

  step "kubectl raft status $NAME (the plugin: make install-plugin)"
  "$MAKE" -s install-plugin PLUGIN_DIR="$ROOT/.cache/tools/bin" >/dev/null
  PATH="$ROOT/.cache/tools/bin:$PATH" kubectl raft -n "$DEMO_NS" status "$NAME"
  cat <<MSG

demo: done. Try (make install-plugin puts kubectl-raft on your PATH):
  export KUBECONFIG=${KUBECONFIG:-~/.kube/config}
  kubectl -n $DEMO_NS scale raftcluster/$NAME --replicas=5
  kubectl raft -n $DEMO_NS status $NAME --watch
  kubectl raft -n $DEMO_NS move-leader $NAME --wait
  kubectl -n $DEMO_NS get raftcluster -w
Connect with the client certificate the operator issued (Secret $NAME-client-tls,
written to $STATE_DIR/client-tls):
  kubectl -n $DEMO_NS port-forward svc/$NAME $DEMO_PORT:2379 &
  etcdctl --endpoints https://127.0.0.1:$DEMO_PORT --cacert $STATE_DIR/client-tls/ca.crt \
    --cert $STATE_DIR/client-tls/tls.crt --key $STATE_DIR/client-tls/tls.key get demo/greeting
Tear it all down with:
  make demo-down
MSG
}

# PF_PID is the port-forward this script started; stopped by its PID however
# the script leaves.
PF_PID=
stop_port_forward() {
  if [[ -n "$PF_PID" ]]; then kill "$PF_PID" 2>/dev/null || true; PF_PID=; fi
}
trap stop_port_forward EXIT

roundtrip() {
  local log=$STATE_DIR/port-forward.log i
  kubectl -n "$DEMO_NS" port-forward "svc/$NAME" "$DEMO_PORT:2379" >"$log" 2>&1 &
  PF_PID=$!
  for i in $(seq 1 50); do # at most 10 s
    grep -q "Forwarding from" "$log" && break
    kill -0 "$PF_PID" 2>/dev/null || { cat "$log"; die "kubectl port-forward exited"; }
    sleep 0.2
  done
  # The cluster runs mutual TLS (spec.tls defaults to Managed): use the
  # application certificate the operator issued in Secret $NAME-client-tls.
  local certs=$STATE_DIR/client-tls k
  mkdir -p "$certs"
  for k in ca.crt tls.crt tls.key; do
    kubectl -n "$DEMO_NS" get secret "$NAME-client-tls" -o "jsonpath={.data.${k//./\\.}}" | base64 -d >"$certs/$k"
  done
  chmod 600 "$certs/tls.key"
  local e=(etcdctl --endpoints "https://127.0.0.1:$DEMO_PORT" --cacert "$certs/ca.crt" --cert "$certs/tls.crt" --key "$certs/tls.key"
    --dial-timeout 5s --command-timeout 10s)
  "${e[@]}" put demo/greeting "hello from kuberaft"
  "${e[@]}" get demo/greeting
  "${e[@]}" member list -w table
  "${e[@]}" endpoint status -w table
  stop_port_forward
}

down() {
  [[ -f "$STATE" ]] || { echo "demo: nothing recorded in $STATE; removing the release from the current cluster"; }
  local kind=current created=0 kubeconfig=""
  if [[ -f "$STATE" ]]; then
    # shellcheck disable=SC1090
    eval "$(tr ' ' '\n' <"$STATE" | sed 's/^/local /')"
    [[ -n "$kubeconfig" ]] && export KUBECONFIG=$kubeconfig
  fi
  if kubectl version --request-timeout=5s >/dev/null 2>&1; then
    step "Removing the sample RaftCluster, the operator and the CRDs"
    kubectl delete namespace "$DEMO_NS" --ignore-not-found --wait --timeout=3m || true
    "$HELM" uninstall "$RELEASE" --namespace "$OP_NS" --wait --timeout 3m 2>/dev/null || true
    kubectl delete namespace "$OP_NS" --ignore-not-found --wait --timeout=3m || true
    kubectl delete -f charts/kuberaft/crds/ --ignore-not-found || true
  fi
  if [[ "$created" == 1 ]]; then
    case $kind in
      kind) step "Deleting the kind cluster the demo created"; hack/kind-cluster.sh down ;;
      local) step "Stopping the offline local cluster the demo started"; hack/local-cluster.sh down ;;
    esac
  fi
  rm -f "$STATE"
  echo "demo: torn down"
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
