#!/usr/bin/env bash
# make bench-etcd-tool: drive 3 raftnode members with etcd's own load tool
# (tools/benchmark of etcd v3.6.8, built from hack/node/etcdbench), unchanged:
# put, linearizable and serializable range, txn-put. Shows compatibility, not
# a comparison (make bench compares).
#
# Env: BENCH_OUT (default .cache/bench), TOTAL (5000), HEARTBEAT_MS (100),
#      ELECTION_MS (1000), SNAPSHOT_COUNT (10000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/.cache/bench}
TOTAL=${TOTAL:-5000}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
ELECTION_MS=${ELECTION_MS:-1000}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-10000}
# shellcheck source=hack/node/lib.sh
source "$ROOT/hack/node/lib.sh"

check_ports
mkdir -p "$OUT/bin"
log "building raftnode, kvbench and etcd's benchmark tool"
CGO_ENABLED=0 go build -o "$OUT/bin/" "$ROOT/cmd/raftnode" "$ROOT/cmd/kvbench"
CGO_ENABLED=0 go build -C "$ROOT/hack/node/etcdbench" -o "$OUT/bin/benchmark" go.etcd.io/etcd/v3/tools/benchmark
DATA=$(mktemp -d "$OUT/data.XXXXXX")
trap 'stop_members; rm -rf "$DATA"' EXIT

start_members raftnode "$OUT/bin/raftnode" "$DATA"
"$OUT/bin/kvbench" wait --endpoints "$(endpoints)" --timeout 60s
bench() {
  echo "== benchmark $*"
  # The tool prints a summary; a failed request shows up in its error
  # distribution, so fail on that too.
  local out
  out=$("$OUT/bin/benchmark" --endpoints "$(endpoints)" --conns 10 --clients 100 "$@" 2>&1)
  grep -E "Requests/sec|Average|Slowest|99%" <<<"$out"
  if grep -q "Error distribution" <<<"$out"; then
    sed -n '/Error distribution/,$p' <<<"$out" >&2
    return 1
  fi
}
bench put --key-size 8 --val-size 256 --total "$TOTAL" --key-space-size 10000 --sequential-keys
bench range bench-key --consistency l --total "$TOTAL"
bench range bench-key --consistency s --total "$TOTAL"
bench txn-put --key-size 8 --val-size 256 --total "$TOTAL" --key-space-size 10000
echo "etcd's benchmark tool ran against raftnode unchanged"
