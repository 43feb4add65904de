#!/usr/bin/env bash
# make bench-scale: issue 11's scale benchmark, a benchmark and not a timed
# test (it prints, it asserts nothing). For each state size and each system
# (3 raftnode members, then 3 etcd members, identical flags, 127.0.0.1):
#   1. etcd's own load tool (tools/benchmark v3.6.8, hack/node/etcdbench):
#      put --key-size=16 --val-size=1024 --total=N --key-space-size=N
#      --conns=10 --clients=100 (N=250000 is ~256 MB of state, 1000000 ~1 GiB);
#   2. a 4th member added to the loaded cluster (member add, then start it
#      with --initial-cluster-state existing), timed until its applied index
#      reaches the leader's index at the time of the add. The index is read
#      from the member's metrics port (etcd_server_proposals_applied_total,
#      the same gauge in both systems, polled every 50 ms), which both
#      serve from start: etcd serves clients only once its publish request
#      is applied, and under this load an added etcd member can retry that
#      request for minutes after it has caught up, which is not catch-up
#      time.
# It prints, per system and size: put throughput, p99, slowest request, peak
# RSS per member (VmHWM), leader changes during the load (raft term growth)
# and the new member's catch-up time.
#
# Usage: hack/node/bench-scale.sh ETCD_BIN_DIR
# Env:   SCALE_TOTAL ("250000 1000000": the sizes, in keys of 1 KiB),
#        SCALE_SYSTEMS ("raftnode etcd"), SCALE_ROUNDS (1: rounds per size,
#        the systems' order alternating; a summary gives the medians and
#        raftnode's ratios to etcd), BENCH_OUT (.cache/bench-scale),
#        BENCH_DATA (default: under BENCH_OUT; the disk to measure),
#        HEARTBEAT_MS (100), ELECTION_MS (1000), SNAPSHOT_COUNT (10000),
#        CATCHUP_TIMEOUT (900 s), CATCHUP_REPEATS (3: catch-ups per round,
#        the member removed and added again in between; the row shows
#        their median), LOG_LEVEL (error; the members' logs are
#        in BENCH_OUT/<system>-m<i>.log).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ETCD_BIN_DIR=${1:?usage: bench-scale.sh ETCD_BIN_DIR}
OUT=${BENCH_OUT:-$ROOT/.cache/bench-scale}
SCALE_TOTAL=${SCALE_TOTAL:-250000 1000000}
SCALE_SYSTEMS=${SCALE_SYSTEMS:-raftnode etcd}
SCALE_ROUNDS=${SCALE_ROUNDS:-1}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}
ELECTION_MS=${ELECTION_MS:-1000}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-10000}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-900}
CATCHUP_REPEATS=${CATCHUP_REPEATS:-3}
LOG_LEVEL=${LOG_LEVEL:-error}
# shellcheck source=hack/node/lib.sh
source "$ROOT/hack/node/lib.sh"
# The added member's ports, next to lib.sh's three.
NEW_CLIENT_PORT=24679
NEW_PEER_PORT=24680
NEW_METRICS_PORT=24681
ETCDCTL="$ETCD_BIN_DIR/etcdctl"

[[ -x "$ETCD_BIN_DIR/etcd" && -x "$ETCDCTL" ]] || { echo "bench-scale: no etcd/etcdctl in $ETCD_BIN_DIR (run make tools-etcd)" >&2; exit 1; }
check_ports
for p in "$NEW_CLIENT_PORT" "$NEW_PEER_PORT" "$NEW_METRICS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench-scale: port $p is in use" >&2
    exit 1
  fi
done
mkdir -p "$OUT/bin"
log "building raftnode, kvbench and etcd's benchmark tool"
CGO_ENABLED=0 go build -o "$OUT/bin/" "$ROOT/cmd/raftnode" "$ROOT/cmd/kvbench"
CGO_ENABLED=0 go build -C "$ROOT/hack/node/etcdbench" -o "$OUT/bin/benchmark" go.etcd.io/etcd/v3/tools/benchmark
DATA=$(mktemp -d "${BENCH_DATA:-$OUT}/data.XXXXXX")
trap 'stop_members; rm -rf "$DATA"' EXIT

# extra_flags NAME: flags only one system has. etcd's default backend quota
# (2 GiB) would stop the 1 GiB run with NOSPACE; raise it.
extra_flags() {
  case $1 in
    etcd) echo "--quota-backend-bytes=8589934592" ;;
    *) echo "" ;;
  esac
}

# start_new_member NAME BINARY: the 4th member, joining the running cluster.
start_new_member() {
  local name=$1 bin=$2 i cluster=""
  for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:${PEER_PORTS[$i]}"; done
  cluster+=",m3=http://127.0.0.1:$NEW_PEER_PORT"
  # shellcheck disable=SC2046 # extra_flags is a list of flags
  "$bin" --name m3 --data-dir "$DATA/$name/m3" \
    --listen-client-urls "http://127.0.0.1:$NEW_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$NEW_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$NEW_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$NEW_PEER_PORT" \
    --listen-metrics-urls "http://127.0.0.1:$NEW_METRICS_PORT" \
    --initial-cluster "$cluster" --initial-cluster-state existing --initial-cluster-token "bench-$name" \
    --heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
    --snapshot-count "$SNAPSHOT_COUNT" --log-level "$LOG_LEVEL" $(extra_flags "$name") \
    >"$OUT/$name-m3.log" 2>&1 &
  PIDS+=($!)
}

# status_max FIELD ENDPOINTS: the largest value of a numeric field of
# `etcdctl endpoint status -w json` over the endpoints that answer.
# Prints nothing when no endpoint answers (a member still starting).
status_max() {
  { "$ETCDCTL" --endpoints "$2" --command-timeout 5s endpoint status -w json 2>/dev/null || true; } |
    { grep -o "\"$1\":[0-9]*" || true; } | cut -d: -f2 | sort -n | tail -1
}

# new_member_applied: the added member's applied index from its metrics
# port (0 while it does not answer yet).
new_member_applied() {
  { curl -s -m 2 "http://127.0.0.1:$NEW_METRICS_PORT/metrics" || true; } |
    awk '/^etcd_server_proposals_applied_total / {v = $2} END {printf "%d", v}'
}

# peak_rss_mb PID: the process's peak resident set (VmHWM), MB.
# A member that already exited has no figure ("-"), not a failed run.
peak_rss_mb() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo -; }

# AWK_MEDIAN defines awk's median(list) of space-separated numbers, for
# both a round's catch-ups and the summary: an even count takes the mean of
# the middle two, unless the upper one is 1e9 (a run that never caught up,
# which has no mean).
AWK_MEDIAN='
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      if (n % 2) return a[(n + 1) / 2]
      return a[n / 2 + 1] >= 1e9 ? 1e9 : (a[n / 2] + a[n / 2 + 1]) / 2
    }'

# catch_up NAME BINARY: add a member to the loaded cluster and time its
# catch-up, CATCHUP_REPEATS times (the member is removed, stopped and its
# data dir wiped in between, and added again with a new ID). CATCHUP is
# the median (or why there is no figure), NEW_RSS the largest peak RSS of
# the added members. One catch-up at ~256 MB is ~1.5 s of work that
# scatters by ±0.2 s, so single samples cannot tell two systems apart.
# Not run in a subshell: PIDS must see the new member so stop_members
# stops it.
catch_up() {
  local name=$1 bin=$2 r rss times=()
  NEW_RSS=0
  for r in $(seq "$CATCHUP_REPEATS"); do
    if ! add_and_time "$name" "$bin"; then CATCHUP=$TOOK; return; fi
    times+=("$TOOK")
    rss=$(peak_rss_mb "${PIDS[3]}")
    if [[ $rss != - ]] && ((rss > NEW_RSS)); then NEW_RSS=$rss; fi
    if ((r < CATCHUP_REPEATS)) && ! remove_new_member "$name"; then CATCHUP="member-remove-failed"; return; fi
  done
  CATCHUP=$(awk "$AWK_MEDIAN"' BEGIN {printf "%.2f", median(ARGV[1])}' "${times[*]}")
  log "$name: catch-up ${times[*]} s, median $CATCHUP s"
}

# add_and_time NAME BINARY: one catch-up; TOOK is its time in seconds, or
# why there is none (then it fails). NEW_ID is the added member's ID.
add_and_time() {
  local name=$1 bin=$2 target start applied=0 tries out
  target=$(status_max raftIndex "$(endpoints)")
  # etcd refuses a member add (strict reconfig check) until every member
  # has been connected for a few seconds; retry, bounded.
  for tries in $(seq 30); do
    out=$("$ETCDCTL" --endpoints "$(endpoints)" member add m3 --peer-urls "http://127.0.0.1:$NEW_PEER_PORT" 2>&1) && break
    if ((tries == 30)); then TOOK="member-add-failed"; echo "$out" >&2; return 1; fi
    sleep 2
  done
  NEW_ID=$(awk '/^Member / {print $2; exit}' <<<"$out")
  start=$(date +%s.%N)
  start_new_member "$name" "$bin"
  while ((applied < target)); do
    if (($(date +%s) - ${start%.*} > CATCHUP_TIMEOUT)); then
      TOOK="timeout(${CATCHUP_TIMEOUT}s)"
      return 1
    fi
    sleep 0.05
    applied=$(new_member_applied)
  done
  TOOK=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
}

# remove_new_member NAME: remove the added member (NEW_ID), stop it and
# wipe its data dir, for the next catch-up.
remove_new_member() {
  local name=$1 pid=${PIDS[3]} tries
  for tries in $(seq 30); do
    "$ETCDCTL" --endpoints "$(endpoints)" member remove "$NEW_ID" >/dev/null 2>&1 && break
    if ((tries == 30)); then return 1; fi
    sleep 1
  done
  kill -TERM "$pid" 2>/dev/null || true
  for tries in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PIDS=("${PIDS[@]:0:3}")
  rm -rf "${DATA:?}/$name/m3"
}

# measure NAME BINARY TOTAL: one row of the table.
measure() {
  local name=$1 bin=$2 total=$3 out term0 term1 rss="" pid
  rm -rf "${DATA:?}/$name"
  MEMBER_EXTRA=$(extra_flags "$name") start_members_extra "$name" "$bin" "$DATA"
  "$OUT/bin/kvbench" wait --endpoints "$(endpoints)" --timeout 60s
  term0=$(status_max raftTerm "$(endpoints)")
  log "$name: put of $total keys (16 B keys, 1 KiB values, 10 conns, 100 clients)"
  out=$("$OUT/bin/benchmark" --endpoints "$(endpoints)" --conns 10 --clients 100 \
    put --key-size 16 --val-size 1024 --total "$total" --key-space-size "$total" 2>&1)
  term1=$(status_max raftTerm "$(endpoints)")
  log "$name: adding a member to the loaded cluster"
  catch_up "$name" "$bin"
  for pid in "${PIDS[@]:0:3}"; do rss+="${rss:+/}$(peak_rss_mb "$pid")"; done
  rss+="/$NEW_RSS"
  printf '%-9s %8s %10s %9s %10s %18s %8s %10s\n' "$name" "$total" \
    "$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(awk '/ 99% in/ {printf "%.1f", $3*1000}' <<<"$out")" \
    "$(awk '/Slowest:/ {printf "%.3f", $2}' <<<"$out")" \
    "$rss" "$((term1 - term0))" "$CATCHUP" | tee -a "$OUT/table.txt"
  if grep -q "Error distribution" <<<"$out"; then sed -n '/Error distribution/,$p' <<<"$out" >&2; fi
  stop_members
}

# summarize TABLE: per size and system, the medians over the rounds (peak
# RSS: the largest of any round; leader changes: their sum), then
# raftnode's ratios to etcd against issue 11's targets. The largest of
# m0/m1/m2 is the RSS compared: the added member's peak is the received
# file, faulted in whole by bbolt's MAP_POPULATE in both systems.
summarize() {
  echo
  echo "summary over $SCALE_ROUNDS round(s): medians; peak RSS the largest of m0/m1/m2 in any round; leader changes summed"
  awk "$AWK_MEDIAN"'
    {
      k = $1 SUBSEP $2
      if (!($2 in seen)) { seen[$2] = 1; sizes[++nsizes] = $2 }
      put[k] = put[k] " " $3; p99[k] = p99[k] " " $4; slow[k] = slow[k] " " $5
      split($6, r, "/"); for (i = 1; i <= 3; i++) if (r[i] + 0 > rss[k]) rss[k] = r[i] + 0
      chg[k] += $7
      cu[k] = cu[k] " " ($8 ~ /^[0-9.]+$/ ? $8 : 1e9)
    }
    END {
      printf "%-9s %8s %10s %9s %10s %10s %10s %10s\n", "system", "keys", "put/s", "p99 ms", "slowest s", "RSS MB", "leader chg", "catch-up s"
      for (s = 1; s <= nsizes; s++) {
        z = sizes[s]
        for (sys = 1; sys <= 2; sys++) {
          name = sys == 1 ? "raftnode" : "etcd"; k = name SUBSEP z
          if (!(k in put)) continue
          c = median(cu[k]); m[name, "put"] = median(put[k]); m[name, "p99"] = median(p99[k])
          m[name, "slow"] = median(slow[k]); m[name, "cu"] = c
          printf "%-9s %8s %10.0f %9.1f %10.3f %10d %10d %10s\n", name, z, m[name, "put"], m[name, "p99"], m[name, "slow"], rss[k], chg[k], (c >= 1e9 ? "none" : sprintf("%.2f", c))
        }
        a = "raftnode" SUBSEP z; b = "etcd" SUBSEP z
        if (!(a in put) || !(b in put)) continue
        printf "ratios at %s keys (raftnode/etcd; target): put %.2fx (>= 1.0), p99 %.2fx (<= 1.0), slowest %.2fx (<= 2.0), RSS %.2fx (<= 2.0), leader changes %d (0), catch-up %s (<= 1.0)\n", z,
          m["raftnode", "put"] / m["etcd", "put"], m["raftnode", "p99"] / m["etcd", "p99"], m["raftnode", "slow"] / m["etcd", "slow"],
          rss[a] / rss[b], chg[a], (m["raftnode", "cu"] >= 1e9 ? "none" : m["etcd", "cu"] >= 1e9 ? "etcd none" : sprintf("%.2fx", m["raftnode", "cu"] / m["etcd", "cu"]))
      }
    }' "$1"
}

# start_members_extra: lib.sh's start_members plus MEMBER_EXTRA flags.
start_members_extra() {
  local name=$1 bin=$2 data=$3 i cluster=""
  for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:${PEER_PORTS[$i]}"; done
  for i in 0 1 2; do
    # shellcheck disable=SC2086
    "$bin" --name "m$i" --data-dir "$data/$name/m$i" \
      --listen-client-urls "http://127.0.0.1:${CLIENT_PORTS[$i]}" --advertise-client-urls "http://127.0.0.1:${CLIENT_PORTS[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${PEER_PORTS[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${PEER_PORTS[$i]}" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$name" \
      --heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
      --snapshot-count "$SNAPSHOT_COUNT" --log-level "$LOG_LEVEL" ${MEMBER_EXTRA:-} \
      >"$OUT/$name-m$i.log" 2>&1 &
    PIDS+=($!)
  done
}

: >"$OUT/table.txt"
echo "make bench-scale: 3 members + 1 added, 127.0.0.1, heartbeat ${HEARTBEAT_MS} ms, election ${ELECTION_MS} ms, snapshot-count ${SNAPSHOT_COUNT}"
echo "etcd: $("$ETCD_BIN_DIR/etcd" --version | head -1); machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); data on $(df -h --output=source,fstype "$DATA" | tail -1)"
printf '%-9s %8s %10s %9s %10s %18s %8s %10s\n' system keys "put/s" "p99 ms" "slowest s" "peak RSS MB m0/m1/m2/new" "leader chg" "catch-up s"
for total in $SCALE_TOTAL; do
  for round in $(seq "$SCALE_ROUNDS"); do
    # Alternate which system goes first, so a drift in the machine's load
    # during the run weighs on both alike.
    systems=$SCALE_SYSTEMS
    if ((round % 2 == 0)); then systems=$(tr ' ' '\n' <<<"$SCALE_SYSTEMS" | tac | tr '\n' ' '); fi
    for sys in $systems; do
      case $sys in
        raftnode) measure raftnode "$OUT/bin/raftnode" "$total" ;;
        etcd) measure etcd "$ETCD_BIN_DIR/etcd" "$total" ;;
        *) echo "bench-scale: unknown system $sys" >&2; exit 2 ;;
      esac
    done
  done
done
summarize "$OUT/table.txt"
