#!/usr/bin/env bash
# Smoke test of the cluster the tests use (default: the offline local one):
# a StatefulSet of 3 pods of our smokeapp image with PVCs; every pod's DNS
# name <pod>.<svc>.<ns>.svc.cluster.local resolves from inside a pod to that
# pod's IP; a deleted pod comes back with the same PVC and the data it wrote
# on first boot, and DNS follows its new IP. Every wait is bounded.
#
# Usage: hack/cluster-smoke.sh   (KUBECONFIG defaults to the local cluster's;
#        SMOKE_KEEP=1 keeps the namespace for debugging)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=kuberaft-smoke
TAG=smoke
IMAGE=kuberaft.local/smokeapp:$TAG
BIN=$("$ROOT/hack/build-tools.sh" print-bin)
export PATH="$BIN:$PATH"
export KUBECONFIG=${KUBECONFIG:-$("$ROOT/hack/local-cluster.sh" kubeconfig)}
start=$SECONDS
checks=0

log() { printf '%s cluster-smoke: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
pass() { checks=$((checks + 1)); log "ok: $*"; }

dump() {
  log "FAILED after $((SECONDS - start))s; state of namespace $NS:"
  kubectl -n "$NS" get statefulset,pods,pvc -o wide >&2 || true
  kubectl -n "$NS" get events --sort-by=.lastTimestamp >&2 || true
  kubectl -n "$NS" describe pods >&2 || true
  log "component logs: $(dirname "$KUBECONFIG")/logs (local cluster)"
}
trap dump ERR

# until_ok TIMEOUT DESC CMD...: retries CMD every half second, fails after TIMEOUT s.
until_ok() {
  local timeout=$1 desc=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "timed out after ${timeout}s: $desc"; "$@" || true; return 1; }
    sleep 0.5
  done
}

pod_field() { kubectl -n "$NS" get pod "$1" -o jsonpath="$2"; }

# resolves_to FROM NAME IP: NAME, looked up inside pod FROM, gives exactly IP.
resolves_to() {
  local out
  out=$(kubectl -n "$NS" exec "$1" -- /smokeapp lookup "$2") || return 1
  [[ "$out" == "$3" ]]
}

setup() {
  "$ROOT/hack/build-tools.sh" images
  "$BIN/mkimage" -tag "$IMAGE" -o "$ROOT/.cache/images/smokeapp-$TAG.tar" -file "$BIN/smokeapp:/smokeapp" >/dev/null
  "$ROOT/hack/load-images.sh" "$TAG" >/dev/null
  if kubectl get namespace "$NS" >/dev/null 2>&1; then
    log "removing namespace $NS left from an earlier run"
    kubectl delete namespace "$NS" --timeout=120s >/dev/null
  fi
  kubectl create namespace "$NS" >/dev/null
  sed "s|@IMAGE@|$IMAGE|" "$ROOT/hack/cluster/smoke.yaml" | kubectl -n "$NS" apply -f - >/dev/null
}

check_statefulset() {
  kubectl -n "$NS" rollout status statefulset/web --timeout=180s >/dev/null
  pass "StatefulSet web: 3/3 ready"
  local pvc phase
  for pvc in data-web-0 data-web-1 data-web-2; do
    phase=$(kubectl -n "$NS" get pvc "$pvc" -o jsonpath='{.status.phase} {.spec.storageClassName}')
    [[ "$phase" == "Bound standard" ]] || { log "PVC $pvc is '$phase', want 'Bound standard'"; return 1; }
  done
  pass "3 PVCs bound on the default StorageClass standard"
}

check_dns() {
  local pod ip name
  for pod in web-0 web-1 web-2; do
    ip=$(pod_field "$pod" '{.status.podIP}')
    name="$pod.web.$NS.svc.cluster.local"
    until_ok 30 "$name resolves to $ip in web-0" resolves_to web-0 "$name" "$ip"
  done
  pass "web-{0,1,2}.web.$NS.svc.cluster.local resolve to the pod IPs inside web-0"
  ip=$(kubectl -n "$NS" exec web-0 -- /smokeapp get "http://web-2.web.$NS.svc.cluster.local:8080/")
  [[ "$ip" == web-2* ]] || { log "web-2 answered '$ip', want its id"; return 1; }
  pass "web-0 reaches web-2 over HTTP by its DNS name"
}

check_restart_keeps_volume() {
  local old_uid old_ip old_id old_volume new_uid new_ip
  old_uid=$(pod_field web-1 '{.metadata.uid}')
  old_ip=$(pod_field web-1 '{.status.podIP}')
  old_id=$(kubectl -n "$NS" exec web-1 -- /smokeapp cat /data/id)
  old_volume=$(kubectl -n "$NS" get pvc data-web-1 -o jsonpath='{.spec.volumeName}')
  kubectl -n "$NS" delete pod web-1 --wait=false >/dev/null
  until_ok 120 "web-1 recreated and Ready" recreated_ready web-1 "$old_uid"
  new_uid=$(pod_field web-1 '{.metadata.uid}')
  new_ip=$(pod_field web-1 '{.status.podIP}')
  pass "web-1 came back (uid ${old_uid:0:8} -> ${new_uid:0:8}, ip $old_ip -> $new_ip)"
  [[ "$(pod_field web-1 '{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}')" == data-web-1 ]]
  [[ "$(kubectl -n "$NS" get pvc data-web-1 -o jsonpath='{.spec.volumeName}')" == "$old_volume" ]]
  [[ "$(kubectl -n "$NS" exec web-1 -- /smokeapp cat /data/id)" == "$old_id" ]] ||
    { log "web-1's /data/id changed: the volume was not kept"; return 1; }
  pass "web-1 has the same PVC data-web-1 ($old_volume) and its first-boot data"
  until_ok 30 "DNS follows web-1 to $new_ip" resolves_to web-0 "web-1.web.$NS.svc.cluster.local" "$new_ip"
  pass "DNS follows web-1 to its new IP"
}

recreated_ready() {
  local uid ready
  uid=$(pod_field "$1" '{.metadata.uid}') || return 1
  ready=$(pod_field "$1" '{.status.conditions[?(@.type=="Ready")].status}') || return 1
  [[ "$uid" != "$2" && "$ready" == True ]]
}

cleanup() {
  [[ "${SMOKE_KEEP:-}" == 1 ]] && { log "keeping namespace $NS (SMOKE_KEEP=1)"; return; }
  kubectl delete namespace "$NS" --timeout=120s >/dev/null
  pass "namespace $NS deleted (PVs reclaimed)"
}

kubectl version >/dev/null
setup
check_statefulset
check_dns
check_restart_keeps_volume
cleanup
log "PASS: $checks checks in $((SECONDS - start))s"
