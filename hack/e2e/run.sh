#!/usr/bin/env bash
# Runs the end-to-end suite (test/e2e, build tag e2e) against the cluster
# KUBECONFIG points at. When KUBECONFIG is unset it brings up the project's
# offline local cluster (make cluster-up) and uses its kubeconfig; if that
# cluster cannot be provisioned the run fails: e2e is never skipped.
#
# Env: E2E_TIMEOUT (go test -timeout, default 60m), E2E_RUN (go test -run),
# E2E_KEEP_CLUSTER=1 keeps a cluster this script started, E2E_ARTIFACTS
# (default .cache/e2e) receives logs and failure dumps.
set -euo pipefail
cd "$(dirname "$0")/../.."

MAKE=${MAKE:-make}
E2E_TIMEOUT=${E2E_TIMEOUT:-60m}
E2E_RUN=${E2E_RUN:-}
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$PWD/.cache/e2e}
export HELM=${HELM:-$(hack/build-tools.sh print-bin)/helm}
mkdir -p "$E2E_ARTIFACTS"

started=0
if [[ -z "${KUBECONFIG:-}" ]]; then
  echo "e2e: KUBECONFIG is unset: bringing up the offline local cluster (make cluster-up)"
  if ! hack/local-cluster.sh status >/dev/null 2>&1; then
    started=1
  fi
  "$MAKE" cluster-up || { echo "e2e: FAIL: the local cluster could not be provisioned" >&2; exit 1; }
  KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
  export KUBECONFIG
fi
echo "e2e: KUBECONFIG=$KUBECONFIG"
kubectl version --request-timeout=20s >/dev/null || { echo "e2e: FAIL: the cluster at $KUBECONFIG does not answer" >&2; exit 1; }

cleanup() {
  if (( started )) && [[ "${E2E_KEEP_CLUSTER:-0}" != 1 ]]; then
    echo "e2e: taking down the local cluster this run started (E2E_KEEP_CLUSTER=1 keeps it)"
    hack/local-cluster.sh down || true
  fi
}
trap cleanup EXIT

args=(-tags e2e -count=1 -timeout "$E2E_TIMEOUT" -v)
[[ -n "$E2E_RUN" ]] && args+=(-run "$E2E_RUN")
set -x
go test "${args[@]}" ./test/e2e/ 2>&1 | tee "$E2E_ARTIFACTS/go-test.log"
