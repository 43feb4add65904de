#!/usr/bin/env bash
# Starts Debian's dockerd for kind, idempotently, with runcwrap as its default
# runtime (root here lacks CAP_SYS_RESOURCE, so plain runc cannot start the
# --privileged containers kind makes; see hack/tools/images/runcwrap), and
# stops it again leaving the host as it was found.
#
# What `start` changes and `stop` puts back (recorded in $STATE):
#   - dockerd itself (stopped only if we started it, by the pid in its pidfile);
#   - net.ipv4.ip_forward (dockerd sets it to 1);
#   - iptables: FORWARD policy (dockerd sets DROP), every rule dockerd added to
#     a built-in chain of the filter and nat tables, and its DOCKER* chains;
#   - the docker0 bridge and /lib/modules (kind mounts it; docker creates it).
#
# Usage: hack/kind/docker.sh start RUNCWRAP | stop | status
# Env: KIND_STATE_DIR (default .cache/kind/state)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STATE=${KIND_STATE_DIR:-$ROOT/.cache/kind/state}
PIDFILE=/run/kuberaft-dockerd.pid
DOCKER=/usr/bin/docker # Debian's CLI, matched to its dockerd
# A wait bound, generous for a loaded 2-core machine; dockerd is up in ~2 s.
START_TIMEOUT=120

log() { printf '%s docker.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

running() { "$DOCKER" info >/dev/null 2>&1; }

# save_host records what dockerd will change, once (a second start keeps it).
save_host() {
  [[ -f "$STATE/host.saved" ]] && return
  mkdir -p "$STATE"
  sysctl -n net.ipv4.ip_forward > "$STATE/ip_forward"
  iptables -S FORWARD | awk '$1 == "-P" {print $3}' > "$STATE/forward_policy"
  for t in filter nat; do iptables -t "$t" -S > "$STATE/iptables-$t.rules"; done
  if ip link show docker0 >/dev/null 2>&1; then touch "$STATE/docker0.existed"; fi
  # kind bind-mounts /lib/modules into every node; docker creates a missing
  # source directory on the host (this VM has none).
  if [[ -e /lib/modules ]]; then touch "$STATE/lib-modules.existed"; fi
  touch "$STATE/host.saved"
}

start() {
  local runcwrap=${1:?usage: docker.sh start RUNCWRAP}
  if running; then
    "$DOCKER" info -f '{{.DefaultRuntime}}' | grep -qx runcwrap ||
      { log "a dockerd without the runcwrap default runtime is running; stop it first"; exit 1; }
    log "dockerd is running with runcwrap"
    return
  fi
  local sock
  for sock in /run/kuberaft/containerd/containerd.sock /run/containerd/containerd.sock; do
    # The offline cluster's containerd (hack/local-cluster.sh), or a system
    # one dockerd would share: both clusters would fight over iptables.
    if [[ -S "$sock" ]]; then
      log "$sock exists (the offline cluster is up?): run make cluster-down first"
      exit 1
    fi
  done
  save_host
  log "starting dockerd (default runtime runcwrap)"
  mkdir -p "$STATE"
  # Its images (the node image) live under .cache like every other build
  # product; realpath because .cache may be a symlink.
  local data; data=$(realpath -m "$ROOT/.cache/kind/docker")
  mkdir -p "$data"
  setsid dockerd --pidfile "$PIDFILE" --data-root "$data" --add-runtime "runcwrap=$runcwrap" --default-runtime runcwrap \
    > "$STATE/dockerd.log" 2>&1 < /dev/null &
  touch "$STATE/started-by-us"
  local deadline=$((SECONDS + START_TIMEOUT))
  until running; do
    if ((SECONDS > deadline)); then
      log "dockerd not up after ${START_TIMEOUT}s; log:"; tail -20 "$STATE/dockerd.log" >&2; exit 1
    fi
    sleep 1
  done
  log "dockerd is up"
}

stop() {
  if [[ -f "$STATE/started-by-us" && -f "$PIDFILE" ]]; then
    local pid; pid=$(cat "$PIDFILE")
    log "stopping dockerd (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + START_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 1; done
    kill -0 "$pid" 2>/dev/null && { log "dockerd did not stop, killing it"; kill -9 "$pid" 2>/dev/null || true; }
    rm -f "$STATE/started-by-us"
  fi
  restore_host
}

# restore_host undoes what save_host recorded: rules and chains that are not
# in the saved listing are removed, the policy and sysctl are put back.
restore_host() {
  [[ -f "$STATE/host.saved" ]] || return 0
  local t rule chain
  for t in filter nat; do
    iptables -t "$t" -S | grep '^-A ' | grep -vxFf "$STATE/iptables-$t.rules" | while read -r rule; do
      # Rules in chains we remove below go with their chain.
      [[ "$rule" =~ ^-A\ DOCKER ]] && continue
      eval "iptables -t $t ${rule/#-A/-D}" || true
    done
    iptables -t "$t" -S | awk '$1 == "-N" {print $2}' | while read -r chain; do
      grep -qx -- "-N $chain" "$STATE/iptables-$t.rules" && continue
      iptables -t "$t" -F "$chain" || true
    done
    iptables -t "$t" -S | awk '$1 == "-N" {print $2}' | while read -r chain; do
      grep -qx -- "-N $chain" "$STATE/iptables-$t.rules" && continue
      iptables -t "$t" -X "$chain" || true
    done
  done
  iptables -P FORWARD "$(cat "$STATE/forward_policy")"
  sysctl -qw net.ipv4.ip_forward="$(cat "$STATE/ip_forward")"
  if [[ ! -f "$STATE/docker0.existed" ]] && ip link show docker0 >/dev/null 2>&1; then
    ip link del docker0 || true
  fi
  if [[ ! -f "$STATE/lib-modules.existed" ]]; then rmdir /lib/modules 2>/dev/null || true; fi
  rm -f "$STATE"/host.saved "$STATE"/iptables-*.rules "$STATE"/forward_policy "$STATE"/ip_forward "$STATE"/*.existed
  log "host iptables, ip_forward and bridges restored"
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) running && "$DOCKER" info -f 'dockerd {{.ServerVersion}}, default runtime {{.DefaultRuntime}}' ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
