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
# Ports far from etcd's defaults so a local etcd or cluster does not collide.
CLIENT_PORTS=(24379 24479 24579)
PEER_PORTS=(24380 24480 24580)

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

mkdir -p "$OUT/bin"
[[ -x "$ETCD_BIN_DIR/etcd" ]] || { echo "bench: no etcd in $ETCD_BIN_DIR (run make tools-etcd)" >&2; exit 1; }
for p in "${CLIENT_PORTS[@]}" "${PEER_PORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench: port $p on 127.0.0.1 is in use; stop what listens there" >&2
    exit 1
  fi
done
log "building raftnode and kvbench"
CGO_ENABLED=0 go build -o "$OUT/bin/" "$ROOT/cmd/raftnode" "$ROOT/cmd/kvbench"
DATA=$(mktemp -d "${BENCH_DATA:-$OUT}/data.XXXXXX")
PIDS=()

stop_members() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Bounded wait (10 s), then kill what is left.
  for _ in $(seq 100); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_members; rm -rf "$DATA"' EXIT

# run_cluster NAME BINARY OUT.json: start 3 members with identical flags, wait until a
# put commits, run kvbench, stop the members.
run_cluster() {
  local name=$1 bin=$2 out=$3 i cluster="" endpoints=""
  for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:${PEER_PORTS[$i]}"
    endpoints+="${endpoints:+,}127.0.0.1:${CLIENT_PORTS[$i]}"
  done
  for i in 0 1 2; do
    "$bin" --name "m$i" --data-dir "$DATA/$name/m$i" \
      --listen-client-urls "http://127.0.0.1:${CLIENT_PORTS[$i]}" \
      --advertise-client-urls "http://127.0.0.1:${CLIENT_PORTS[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${PEER_PORTS[$i]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${PEER_PORTS[$i]}" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$name" \
      --heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
      --snapshot-count "$SNAPSHOT_COUNT" --log-level error \
      >"$OUT/$name-m$i.log" 2>&1 &
    PIDS+=($!)
  done
  log "$name: waiting for a writable cluster at $endpoints"
  "$OUT/bin/kvbench" wait --endpoints "$endpoints" --timeout 60s
  # shellcheck disable=SC2086 # KVBENCH_FLAGS is a list of flags
  "$OUT/bin/kvbench" run --name "$name" --endpoints "$endpoints" --out "$out" ${KVBENCH_FLAGS:-} >/dev/null
  stop_members
}

ROUNDS=${BENCH_ROUNDS:-3}
for r in $(seq "$ROUNDS"); do
  rm -rf "${DATA:?}"/*
  run_cluster raftnode "$OUT/bin/raftnode" "$OUT/raftnode-$r.json"
  run_cluster etcd "$ETCD_BIN_DIR/etcd" "$OUT/etcd-$r.json"
done
echo
echo "make bench: 3 members each on 127.0.0.1, heartbeat ${HEARTBEAT_MS} ms, election ${ELECTION_MS} ms, snapshot-count ${SNAPSHOT_COUNT}"
echo "etcd: $("$ETCD_BIN_DIR/etcd" --version | head -1); machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); data on $(df -h --output=source,fstype "$DATA" | tail -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
pairs=()
for r in $(seq "$ROUNDS"); do pairs+=("$OUT/raftnode-$r.json" "$OUT/etcd-$r.json"); done
"$OUT/bin/kvbench" compare "${pairs[@]}"
