#!/usr/bin/env bash
# Keeps the Helm chart's copies of generated manifests equal to config/:
#   crds/        <- config/crd/bases/*.yaml   (byte for byte)
#   files/rbac/  <- config/rbac/role.yaml and leader_election_role.yaml
# `sync` copies them; `check` fails (listing the differences) when a copy is
# stale, so `kubectl apply -k config/default` and `helm install` can never
# grant different permissions or install a different schema.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-check}
chart=charts/kuberaft
rbac_files=(role.yaml leader_election_role.yaml)

[[ -d config/crd/bases ]] || { echo "chart-sync: config/crd/bases is missing (run make manifests)" >&2; exit 1; }
[[ -f config/rbac/role.yaml ]] || { echo "chart-sync: config/rbac/role.yaml is missing (run make manifests)" >&2; exit 1; }

# The expected tree, built in a scratch directory and compared as a whole so
# that extra files in the chart are caught as well as missing ones.
want=$(mktemp -d)
trap 'rm -rf "$want"' EXIT
mkdir -p "$want/crds" "$want/files/rbac"
cp config/crd/bases/*.yaml "$want/crds/"
for f in "${rbac_files[@]}"; do
  if [[ -f config/rbac/$f ]]; then cp "config/rbac/$f" "$want/files/rbac/"; fi
done

case $mode in
  sync)
    rm -rf "$chart/crds" "$chart/files/rbac"
    mkdir -p "$chart/files"
    cp -r "$want/crds" "$chart/crds"
    cp -r "$want/files/rbac" "$chart/files/rbac"
    echo "chart-sync: copied $(ls "$want/crds" | wc -l) CRD(s) and $(ls "$want/files/rbac" | wc -l) RBAC file(s) into $chart"
    ;;
  check)
    ok=1
    diff -r "$want/crds" "$chart/crds" || ok=0
    diff -r "$want/files/rbac" "$chart/files/rbac" || ok=0
    if (( ! ok )); then
      echo "chart-sync: $chart differs from config/ (above); run: make chart-crds" >&2
      exit 1
    fi
    echo "chart-sync: $chart/crds and $chart/files/rbac equal config/ ($(ls "$want/crds" | wc -l) CRD(s))"
    ;;
  *) echo "usage: $0 sync|check" >&2; exit 2 ;;
esac
