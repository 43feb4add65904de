#!/usr/bin/env bash
# make bench: start 3 raftnode members on 127.0.0.1, measure them with
# kvbench, stop them; then the same for 3 etcd v3.6 members with identical
# flags; print both results and the ratios.
#
# Usage: hack/node/bench.sh ETCD_BIN_DIR
# Env:   BENCH_OUT (default .cache/bench), BENCH_DATA (default: a temp dir
#        under BENCH_OUT; put it on the disk you want to measure),
#        KVBENCH_FLAGS (extra kvbench run flags, e.g. "--put-total=5000"),
#        HEARTBEAT_MS (100), ELECTION_MS (1000), SNAPSHOT_COUNT (10000),
#        BENCH_ROUNDS (3): rounds of raftnode-then-etcd; the comparison ends
#        with the per-metric median over the rounds, which a shared
#        machine's background load moves much less than one round.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN_DIR=${1:?usage: bench.sh ETCD_BIN_DIR}
OUT=${BENCH_OUT:-$ROOT/.cache/bench}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
ELECTION_MS=${ELECTION_MS:-1000}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
# shellcheck source=hack/node/lib.sh
source "$ROOT/hack/node/lib.sh"

[[ -x "$ETCD_BIN_DIR/etcd" ]] || { echo "bench: no etcd in $ETCD_BIN_DIR (run make tools-etcd)" >&2; exit 1; }
check_ports
mkdir -p "$OUT/bin"
log "building raftnode and kvbench"
CGO_ENABLED=0 go build -o "$OUT/bin/" "$ROOT/cmd/raftnode" "$ROOT/cmd/kvbench"
DATA=$(mktemp -d "${BENCH_DATA:-$OUT}/data.XXXXXX")
trap 'stop_members; rm -rf "$DATA"' EXIT

# measure NAME BINARY OUT.json: start the members, wait until a put commits,
# run kvbench, stop the members.
measure() {
  local name=$1 bin=$2 out=$3
  start_members "$name" "$bin" "$DATA"
  log "$name: waiting for a writable cluster at $(endpoints)"
  "$OUT/bin/kvbench" wait --endpoints "$(endpoints)" --timeout 60s
  # shellcheck disable=SC2086 # KVBENCH_FLAGS is a list of flags
  "$OUT/bin/kvbench" run --name "$name" --endpoints "$(endpoints)" --out "$out" ${KVBENCH_FLAGS:-} >/dev/null
  stop_members
}

pairs=()
for r in $(seq "$ROUNDS"); do
  rm -rf "${DATA:?}"/*
  measure raftnode "$OUT/bin/raftnode" "$OUT/raftnode-$r.json"
  measure etcd "$ETCD_BIN_DIR/etcd" "$OUT/etcd-$r.json"
  pairs+=("$OUT/raftnode-$r.json" "$OUT/etcd-$r.json")
done
echo
echo "make bench: 3 members each on 127.0.0.1, heartbeat ${HEARTBEAT_MS} ms, election ${ELECTION_MS} ms, snapshot-count ${SNAPSHOT_COUNT}"
echo "etcd: $("$ETCD_BIN_DIR/etcd" --version | head -1); machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); data on $(df -h --output=source,fstype "$DATA" | tail -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/bin/kvbench" compare "${pairs[@]}"
