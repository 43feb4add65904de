# Shared by bench.sh and etcd-benchmark.sh: start and stop 3 members of
# raftnode or etcd on 127.0.0.1 with identical flags. Source it; needs
# OUT (logs), HEARTBEAT_MS, ELECTION_MS, SNAPSHOT_COUNT.

CLIENT_PORTS=(24379 24479 24579)
PEER_PORTS=(24380 24480 24580)
PIDS=()

log() { printf '%s %s: %s\n' "$(date -u +%H:%M:%S)" "$(basename "$0" .sh)" "$*" >&2; }

# check_ports fails when a port of ours is taken (a clearer error than a
# member exiting later).
check_ports() {
  local p
  for p in "${CLIENT_PORTS[@]}" "${PEER_PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p on 127.0.0.1 is in use; stop what listens there" >&2
      return 1
    fi
  done
}

endpoints() {
  local i eps=""
  for i in 0 1 2; do eps+="${eps:+,}127.0.0.1:${CLIENT_PORTS[$i]}"; done
  echo "$eps"
}

# start_members NAME BINARY DATADIR: start 3 members with identical flags.
start_members() {
  local name=$1 bin=$2 data=$3 i cluster=""
  for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:${PEER_PORTS[$i]}"; done
  for i in 0 1 2; do
    "$bin" --name "m$i" --data-dir "$data/$name/m$i" \
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
}

# stop_members: SIGTERM, a bounded wait (10 s), then SIGKILL what is left.
stop_members() {
  local pid alive
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 100); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  PIDS=()
}
