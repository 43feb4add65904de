# shellcheck shell=bash
# Leaving the machine as up found it; sourced by hack/local-cluster.sh.
# record_host_state runs before anything is started; clean_host undoes what
# the cluster did to the host once every process of ours has stopped.

# record_host_state saves the sysctls and which host paths already existed.
# It keeps the first record until down, so a failed up followed by another
# up does not save the cluster's own values as the "before" state.
record_host_state() {
  [[ -f "$SYSCTL_SAVE" ]] && return
  local key value path
  for key in "${SYSCTLS[@]}"; do
    value=$(sysctl -n "$key" 2>/dev/null) && printf '%s=%s\n' "$key" "$value"
  done >"$SYSCTL_SAVE.tmp"
  for path in "${HOST_PATHS[@]}"; do
    [[ -e "$path" ]] || echo "$path"
  done >"$CREATED_PATHS"
  mv "$SYSCTL_SAVE.tmp" "$SYSCTL_SAVE"
}

clean_host() {
  kill_leftover_shims
  unmount_under "$DATA"
  unmount_under "$CONTAINERD_STATE"
  remove_netns
  clean_iptables
  ip link delete "$CNI_BRIDGE" 2>/dev/null || true
  remove_kubepods_cgroups
  remove_created_paths
  # The hostPath provisioner (used only by this cluster) puts every
  # volume here; with the cluster's data gone they are orphans.
  rm -rf "$HOSTPATH_PV_DIR"
  restore_sysctls
}

# kill_leftover_shims: shims of our containerd carry its socket in their
# command line; after rmpods there should be none.
kill_leftover_shims() {
  local pid
  for pid in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" || true); do
    log "killing leftover shim $pid"
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# unmount_under DIR unmounts every mount point below DIR, deepest first.
unmount_under() {
  local dir=$1 mnt
  [[ -d "$dir" ]] || return 0
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || log "could not unmount $mnt"
  done
}

# remove_netns: the CRI names pod network namespaces cni-<uuid>; with every
# sandbox of ours gone, any left are ours (nothing else here runs CNI).
remove_netns() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
    ip netns delete "$ns" 2>/dev/null || true
  done
}

# clean_iptables removes kube-proxy's, kubelet's and the CNI plugins' chains
# (KUBE-*, CNI-*) and the jumps to them, in v4 and v6. kube-proxy --cleanup
# alone leaves kubelet's KUBE-FIREWALL and canary chains behind.
clean_iptables() {
  local bin ipt table line chain
  bin=$(tool_bin)
  if [[ -x "$bin/kube-proxy" ]]; then
    "$bin/kube-proxy" --cleanup >>"$LOGS/kube-proxy.log" 2>&1 || log "kube-proxy --cleanup failed, removing its chains by hand"
  fi
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      # grep matching nothing must not end the script (pipefail): || true.
      { "$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' || true; } |
        while read -r line; do eval "$ipt -t $table -D ${line#-A }" 2>/dev/null || true; done
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# remove_kubepods_cgroups removes kubelet's (empty, all pods gone) QoS
# cgroups in every hierarchy, deepest first.
remove_kubepods_cgroups() {
  local top
  for top in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/kubepods.slice; do
    if [[ -d "$top" ]]; then
      find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || log "could not remove every cgroup under $top"
    fi
  done
}

remove_created_paths() {
  local path
  [[ -f "$CREATED_PATHS" ]] || return 0
  while read -r path; do
    [[ -n "$path" && "$path" == /* ]] || continue
    # A containerd started since our up (default socket) now uses it too.
    [[ "$path" == /run/containerd && -S /run/containerd/containerd.sock ]] && continue
    unmount_under "$path"
    rm -rf "$path"
  done <"$CREATED_PATHS"
  rm -f "$CREATED_PATHS"
}

restore_sysctls() {
  [[ -f "$SYSCTL_SAVE" ]] || return 0
  local kv
  while read -r kv; do
    sysctl -qw "$kv" 2>/dev/null || log "could not restore $kv"
  done <"$SYSCTL_SAVE"
  rm -f "$SYSCTL_SAVE"
}
