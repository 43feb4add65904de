#!/usr/bin/env bash
# make e2e-kind: brings up the 3-node kind cluster (hack/kind-cluster.sh),
# runs the e2e suite on it with the multi-node scenarios enabled
# (E2E_MULTINODE=1), and always takes the cluster down again, leaving the
# host as found. A cluster that cannot be provisioned fails the run: it is
# never skipped.
#
# Env: E2E_RUN (go test -run; make passes E2E_KIND_RUN), E2E_TIMEOUT,
#   E2E_KEEP_CLUSTER=1 keeps the kind cluster (and dockerd) afterwards.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

t0=$SECONDS
cleanup() {
  local rc=$?
  if [[ "${E2E_KEEP_CLUSTER:-0}" != 1 ]]; then
    hack/kind-cluster.sh down || { echo "e2e-kind: FAIL: kind-cluster.sh down failed" >&2; rc=1; }
  fi
  echo "e2e-kind: total $((SECONDS - t0))s"
  exit "$rc"
}
trap cleanup EXIT

up0=$SECONDS
if ! TAG=${TAG:-dev} KIND_SKIP_LOAD=1 hack/kind-cluster.sh up; then
  echo "e2e-kind: FAIL: the kind cluster could not be provisioned" >&2
  exit 1
fi
echo "e2e-kind: kind-cluster.sh up took $((SECONDS - up0))s"
KUBECONFIG=$(hack/kind-cluster.sh kubeconfig)
# kind load (via hack/load-images.sh) runs Debian's docker CLI, as up does.
export KUBECONFIG E2E_MULTINODE=1 PATH="$ROOT/.cache/kind/path:$PATH"
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$ROOT/.cache/e2e-kind}
# kind's kubelets refresh Secret volumes at their default 1 min sync (+ up to
# 30 s jitter): the CA overlap of ca-rotation-under-load must exceed it.
export E2E_CA_OVERLAP=${E2E_CA_OVERLAP:-100s}
hack/e2e/run.sh
