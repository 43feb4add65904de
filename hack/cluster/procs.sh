# shellcheck shell=bash
# Starting, watching and stopping the offline cluster's processes; sourced by
# hack/local-cluster.sh. A component is ours only if its PID file names a
# live process running the binary recorded next to it, so a recycled PID
# never gets a signal from us.

# start_proc NAME BINARY ARGS...: runs BINARY detached (own session, so it
# outlives the calling shell and make) with output appended to logs/NAME.log.
start_proc() {
  local name=$1 binary=$2
  shift 2
  printf '\n==== %s start %s\n' "$(date -u +%FT%TZ)" "$name" >>"$LOGS/$name.log"
  # In a script (no job control) the child is not a group leader, so setsid
  # execs in place and $! is the component's PID.
  # 8>&-: the component must not inherit (and so hold) the cluster lock.
  setsid "$binary" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 8>&- &
  printf '%s\n%s\n' "$!" "$(readlink -f "$binary")" >"$PIDS/$name.pid"
}

# running_pid NAME prints the PID of our running NAME, or fails.
running_pid() {
  local file="$PIDS/$1.pid" pid exe
  [[ -f "$file" ]] || return 1
  { read -r pid && read -r exe; } <"$file" || return 1
  [[ -n "$pid" && -d /proc/$pid ]] || return 1
  # Right after start the PID may still be our forked shell or setsid,
  # about to exec the component.
  case "$(readlink /proc/"$pid"/exe 2>/dev/null)" in
    "$exe" | */setsid | "$(readlink /proc/$$/exe)") ;;
    *) return 1 ;;
  esac
  echo "$pid"
}

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null || return 1; done
}

any_running() {
  local c
  for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null && return 0; done
  return 1
}

# stop_procs GRACE NAME...: SIGTERM to all of them at once, then SIGKILL to
# those still running after GRACE seconds.
stop_procs() {
  local grace=$1 name pid i
  shift
  local pids=()
  for name in "$@"; do
    if pid=$(running_pid "$name"); then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < grace * 10; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
      log "pid $pid did not stop in ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    fi
  done
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

# wait_for DESC TIMEOUT CMD...: polls CMD every half second until it
# succeeds; fails with the component logs' tails after TIMEOUT seconds.
wait_for() {
  local desc=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $desc; last log lines:"
      tail -n 5 "$LOGS"/*.log >&2 || true
      die "$desc: not reached (logs in $LOGS)"
    fi
    sleep 0.5
  done
  log "$desc"
}

# ensure_alive NAME: fail fast when a component died at start (bad flag,
# port taken) instead of waiting for a timeout.
ensure_alive() {
  running_pid "$1" >/dev/null || { tail -n 20 "$LOGS/$1.log" >&2; die "$1 exited, see $LOGS/$1.log"; }
}

start_control_plane() {
  local bin=$1
  start_proc etcd "$bin/etcd" --name kuberaft-local --data-dir "$DATA/etcd" \
    --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
    --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
    --initial-cluster "kuberaft-local=http://$ETCD_PEER" \
    --unsafe-no-fsync --log-level warn
  wait_for "etcd healthy" 30 curl -fsS --max-time 2 "http://$ETCD_CLIENT/health"

  start_proc kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://$ETCD_CLIENT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --allow-privileged=true --profiling=false --v=1
  wait_for "kube-apiserver ready" 90 api_ready_or_die

  start_proc kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$ETC/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$ETC/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$ETC/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
    --profiling=false --v=1
  # Our provisioner, not kcm's --enable-hostpath-provisioner: that one makes
  # each volume directory root-owned 0750, which non-root pods cannot write.
  start_proc hostpath-provisioner "$bin/hostpathprovisioner" \
    --kubeconfig "$KUBECONFIG_PATH" --dir "$HOSTPATH_PV_DIR" --name "$HOSTPATH_PROVISIONER"
  start_proc kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$ETC/scheduler.kubeconfig" \
    --authentication-kubeconfig "$ETC/scheduler.kubeconfig" \
    --authorization-kubeconfig "$ETC/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

api_ready_or_die() {
  ensure_alive kube-apiserver
  api_ready
}

start_containerd() {
  mkdir -p "$CONTAINERD_STATE"
  start_proc containerd /usr/bin/containerd --config "$ETC/containerd.toml"
  # Test for the socket first: ctr waits its full timeout when it is absent.
  wait_for "containerd serving" 30 containerd_serving
}

containerd_serving() {
  ensure_alive containerd
  [[ -S "$CONTAINERD_SOCK" ]] && ctr --address "$CONTAINERD_SOCK" --connect-timeout 1s version
}

start_node() {
  local bin=$1
  start_proc kubelet "$bin/kubelet" --config "$ETC/kubelet.yaml" \
    --kubeconfig "$ETC/kubelet.kubeconfig" --root-dir "$DATA/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  start_proc kube-proxy "$bin/kube-proxy" --config "$ETC/kube-proxy.yaml" --v=1
  start_proc coredns "$bin/coredns" -conf "$ETC/Corefile"
}

# orphan_pids prints the PIDs of this cluster's components whose PID file
# was lost (say, a down that raced an up before the lock existed): processes
# running one of our binaries with this CLUSTER_DIR in their arguments. No
# one else's process has both, not even envtest's or the benchmarks' etcd.
orphan_pids() {
  local bin pid exe
  bin=$(readlink -f "$(tool_bin)")
  for pid in $(pgrep -f -- "$CLUSTER_DIR/" || true); do
    exe=$(readlink /proc/"$pid"/exe 2>/dev/null) || continue
    case $exe in
      "$bin"/* | /usr/bin/containerd) echo "$pid" ;;
    esac
  done
}

stop_orphans() {
  local pids pid i
  pids=$(orphan_pids)
  [[ -n "$pids" ]] || return 0
  for pid in $pids; do
    log "stopping orphaned component $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-80)... (pid $pid, no PID file)"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $pids; do
    for ((i = 0; i < 150; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

# stop_all stops in reverse start order; kubelet goes before the pods are
# removed (so it does not restart them) and containerd after.
stop_all() {
  local bin
  bin=$(tool_bin)
  # kubelet first among equals: once it is gone nothing restarts the pods.
  stop_procs 30 coredns kube-proxy kube-scheduler hostpath-provisioner kube-controller-manager kubelet
  if running_pid containerd >/dev/null && [[ -x "$bin/cri" ]]; then
    log "removing pod sandboxes (containers, CNI, mounts)"
    "$bin/cri" -endpoint "unix://$CONTAINERD_SOCK" -timeout 90s rmpods >&2 || log "some sandboxes could not be removed"
    kill_leftover_tasks
  fi
  stop_procs 30 containerd kube-apiserver
  stop_procs 15 etcd
  stop_orphans
}

# kill_leftover_tasks: the fallback when a sandbox could not be removed
# through the CRI: kill its processes so nothing of ours keeps running.
kill_leftover_tasks() {
  local task
  for task in $(ctr_k8s tasks ls -q 2>/dev/null || true); do
    log "killing leftover task $task"
    ctr_k8s tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    ctr_k8s tasks delete "$task" >/dev/null 2>&1 || true
  done
}
