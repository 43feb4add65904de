#!/usr/bin/env bash
# Builds kind's node image offline: no docker pull, no `kind build node-image`
# (that always runs `ctr content fetch` for etcd, CoreDNS, pause, ...; see
# shared research kind-offline.md §0). The result follows the node-image
# contract of the kind version we pin (KIND_VERSION, v0.33.0):
#
#   rootfs   Debian bookworm by mmdebstrap (systemd 252 still runs on the
#            host's cgroup v1; kind's own trixie base would not), with
#            Debian's containerd, runc, iptables and CNI plugins;
#   kind     kind's images/base/files (entrypoint, units, hooks) from its Go
#            module, containerd config with restrict_oom_score_adj = true
#            (root lacks CAP_SYS_RESOURCE) and our pause as sandbox image;
#   k8s      kubelet/kubectl (our multicall build) and kubeadm 1.36.3;
#   images   kube-apiserver, -controller-manager, -scheduler, kube-proxy,
#            etcd, CoreDNS, pause, local-path provisioner + helper, packed by
#            mkimage (go-containerregistry) and imported, not unpacked, into
#            the rootfs's containerd store by a private containerd run.
#
# Output: .cache/kind/node-<stamp>.tar (a rootfs tarball for `docker import`,
# see kind-cluster.sh) and .cache/kind/node.current naming it. Every step is
# skipped when its inputs' stamp is unchanged, so a second run is quick.
#
# Usage: hack/kind/build-node-image.sh        (prints the tarball's path)
#        hack/kind/build-node-image.sh STEP... (image-tools, kubeadm, local-path, debian only)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/hack/kind"
K8S_VERSION=${K8S_VERSION:-v1.36.3}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
LOCAL_PATH_VERSION=${LOCAL_PATH_VERSION:-v0.0.30}
SUITE=bookworm
GO=${GO:-go}
NICE=${NICE:-nice -n 10}
CACHE=$(realpath -m "$ROOT/.cache/kind") # resolved: systemctl --root fails on a symlinked path
KBIN="$CACHE/bin"
BIN=$("$ROOT/hack/build-tools.sh" print-bin)
# shellcheck source=hack/kind/images.env
source "$HERE/images.env"

# Debian packages of the node: what kind's base Dockerfile installs, less
# fuse-overlayfs/nfs/iscsi/curl (unused here), plus containerd, runc and the
# CNI plugins that kind builds itself upstream.
NODE_PACKAGES=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,e2fsprogs,bash,ca-certificates,jq,procps
# The base layer of kube-proxy (iptables userland) and of the local-path
# helper (/bin/sh, mkdir, rm).
BASE_PACKAGES=iptables

log() { printf '%s build-node-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stamp_of() {
  local item
  for item in "$@"; do
    # Content only (stdin): the path differs between checkouts and callers.
    if [[ -f "$item" ]]; then sha256sum < "$item"; else echo "$item"; fi
  done | sha256sum | cut -c1-16
}

# cached NAME STAMP FUNC: runs FUNC unless CACHE/.NAME.stamp holds STAMP.
cached() {
  local name=$1 stamp=$2 fn=$3 start=$SECONDS
  if [[ "$(cat "$CACHE/.$name.stamp" 2>/dev/null)" == "$stamp" ]]; then return; fi
  log "building $name"
  "$fn"
  echo "$stamp" > "$CACHE/.$name.stamp"
  log "built $name in $((SECONDS - start))s"
}

build_kubeadm() {
  # Its own module (hack/kind/kubeadm: the multicall's go.mod plus kubeadm's
  # extra go.sum lines); same version stamp as the other components.
  local minor=${K8S_VERSION#v1.} flags="-s -w" pkg
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-proxy-build"
  done
  (cd "$HERE/kubeadm" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false $NICE "$GO" build -trimpath -ldflags "$flags" -o "$KBIN/kubeadm" .)
}

# build_image_tools builds mkimage and runcwrap from this tree into KBIN:
# the shared tool dir may briefly hold another checkout's older mkimage
# (checkouts share .cache), and these two must match this script.
build_image_tools() {
  (cd "$ROOT/hack/tools/images" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$GO" build -trimpath -ldflags "-s -w" -o "$KBIN/" ./mkimage ./runcwrap)
}

build_local_path() {
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && CGO_ENABLED=0 GOBIN="$KBIN" $NICE "$GO" install -trimpath -ldflags "-s -w" "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION")
  rm -rf "$tmp"
}

# mmdebstrap uses the host's apt sources; it needs root (we are).
build_node_rootfs() { mmdebstrap --variant=minbase --include="$NODE_PACKAGES" "$SUITE" "$CACHE/work/debian-node.tar" >&2; }
build_base_rootfs() { mmdebstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$CACHE/work/debian-base.tar" >&2; }

# build_images packs every image kubeadm and kind start into docker-archive
# tarballs. The four Kubernetes images share one layer (the multicall binary
# and its names), stored once in each node's containerd.
build_images() {
  local out="$CACHE/work/images" k8s_files=(-file "$BIN/k8s:/usr/local/bin/k8s") c
  rm -rf "$out"; mkdir -p "$out"
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    k8s_files+=(-symlink "/usr/local/bin/$c:k8s")
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    "$KBIN/mkimage" -tag "$K8S_REGISTRY/$c:$K8S_VERSION" -o "$out/$c.tar" "${k8s_files[@]}" -entrypoint "/usr/local/bin/$c" >&2
  done
  "$KBIN/mkimage" -tag "$K8S_REGISTRY/kube-proxy:$K8S_VERSION" -o "$out/kube-proxy.tar" -layer "$CACHE/work/debian-base.tar" \
    "${k8s_files[@]}" -entrypoint /usr/local/bin/kube-proxy >&2
  "$KBIN/mkimage" -tag "$ETCD_IMAGE" -o "$out/etcd.tar" -file "$BIN/etcd:/usr/local/bin/etcd" >&2
  "$KBIN/mkimage" -tag "$COREDNS_IMAGE" -o "$out/coredns.tar" -file "$BIN/coredns:/coredns" >&2
  "$KBIN/mkimage" -tag "$PAUSE_IMAGE" -o "$out/pause.tar" -file "$BIN/pause:/pause" >&2
  "$KBIN/mkimage" -tag "$PROVISIONER_IMAGE" -o "$out/local-path-provisioner.tar" \
    -file "$KBIN/local-path-provisioner:/usr/local/bin/local-path-provisioner" >&2
  "$KBIN/mkimage" -tag "$HELPER_IMAGE" -o "$out/local-path-helper.tar" -layer "$CACHE/work/debian-base.tar" \
    -file "$BIN/pause:/usr/local/bin/pause" -entrypoint /bin/sh >&2
}

# assemble_node unpacks the Debian rootfs and applies what kind's base
# Dockerfile does (images/base/Dockerfile at KIND_VERSION), then our changes.
assemble_node() {
  local r="$CACHE/work/rootfs" kindsrc
  kindsrc=$(cd /tmp && "$GO" mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)/images/base/files
  rm -rf "$r"; mkdir -p "$r"
  tar -C "$r" -xf "$CACHE/work/debian-node.tar"
  # kind's files, modes as its Dockerfile sets them.
  install -m 0755 "$kindsrc"/usr/local/bin/* "$r/usr/local/bin/"
  mkdir -p "$r/kind/bin" "$r/kind/manifests" "$r/etc/kubernetes/manifests" "$r/etc/systemd/system/kubelet.service.d"
  install -m 0644 "$kindsrc/kind/README.txt" "$r/kind/"
  install -m 0755 "$kindsrc"/kind/bin/* "$r/kind/bin/"
  install -m 0644 "$kindsrc/etc/crictl.yaml" "$r/etc/"
  install -m 0644 "$kindsrc"/etc/default/* "$r/etc/default/"
  install -m 0644 "$kindsrc"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  install -m 0644 "$kindsrc"/etc/systemd/system/*.service "$kindsrc"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
  install -m 0644 "$kindsrc"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  rm -f "$r/etc/systemd/system/containerd-fuse-overlayfs.service"
  mkdir -p "$r/etc/containerd"
  containerd_config "$kindsrc/etc/containerd/config.toml" > "$r/etc/containerd/config.toml"
  # kind's units and scripts expect its upstream paths; Debian's are elsewhere.
  ln -sfn /usr/bin/containerd "$r/usr/local/bin/containerd"
  ln -sfn /usr/bin/ctr "$r/usr/local/bin/ctr"
  mkdir -p "$r/opt/cni"; ln -sfn /usr/lib/cni "$r/opt/cni/bin"
  chroot "$r" ctr oci spec |
    jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
    jq 'del(.process.rlimits)' > "$r/etc/containerd/cri-base.json"
  systemd_edits "$r"
  # Kubernetes: kubelet and kubectl from the multicall binary, kubeadm.
  install -m 0755 "$BIN/k8s" "$r/usr/bin/k8s"
  ln -sfn k8s "$r/usr/bin/kubelet"; ln -sfn k8s "$r/usr/bin/kubectl"
  install -m 0755 "$KBIN/kubeadm" "$r/usr/bin/kubeadm"
  echo "$K8S_VERSION" > "$r/kind/version"
  sed -e "s#@PROVISIONER_IMAGE@#$PROVISIONER_IMAGE#" -e "s#@HELPER_IMAGE@#$HELPER_IMAGE#" "$HERE/default-storage.yaml" \
    > "$r/kind/manifests/default-storage.yaml"
  preload_images "$r"
  : > "$r/etc/machine-id"
}

# containerd_config prints kind's config.toml with this host's changes.
containerd_config() {
  sed -e '/^\[proxy_plugins\]/,/^$/d' \
    -e 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \
    -e "s#sandbox_image = \".*\"#sandbox_image = \"$PAUSE_IMAGE\"#" "$1"
}

systemd_edits() {
  local r=$1
  rm -f "$r"/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service
  rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/*
  rm -f "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/basic.target.wants/*
  rm -f "$r"/lib/systemd/system/sockets.target.wants/*udev* "$r"/lib/systemd/system/sockets.target.wants/*initctl*
  echo "ReadKMsg=no" >> "$r/etc/systemd/journald.conf"
  ln -sfn /usr/lib/systemd/systemd "$r/sbin/init"
  systemctl --root="$r" enable kubelet.service containerd.service undo-mount-hacks.service >&2
  systemctl --root="$r" mask systemd-binfmt.service >&2
}

# preload_images imports the image tarballs into the rootfs's containerd
# store the way kind does (namespace k8s.io, not unpacked: CRI unpacks on
# first use), with the host's containerd (Debian's, the same package as in
# the node) on a private socket, stopped by its pid. containerd 1.6 has no
# "pinned" image label; kind's kubelet config (imageGCHighThresholdPercent
# 100) keeps the images from being collected.
preload_images() {
  local r=$1 run="$CACHE/work/containerd" pid tar
  rm -rf "$run"; mkdir -p "$run"
  printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' > "$run/config.toml"
  containerd --config "$run/config.toml" --root "$r/var/lib/containerd" --state "$run/state" \
    --address "$run/sock" > "$run/log" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + 60))
  until ctr --address "$run/sock" --connect-timeout 1s version >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { kill "$pid"; log "private containerd did not start:"; cat "$run/log" >&2; exit 1; }
    sleep 0.5
  done
  for tar in "$CACHE"/work/images/*.tar; do
    ctr --address "$run/sock" -n k8s.io images import --no-unpack --all-platforms "$tar" >&2
  done
  ctr --address "$run/sock" -n k8s.io images ls -q >&2
  kill "$pid"; wait "$pid" || true
  rm -rf "$run"
}

pack_node() {
  local out="$CACHE/node-$1.tar"
  tar -C "$CACHE/work/rootfs" --numeric-owner -cf "$out.new" .
  mv -f "$out.new" "$out"
  echo "$out" > "$CACHE/node.current"
  find "$CACHE" -maxdepth 1 -name 'node-*.tar' ! -path "$out" -delete
  rm -rf "$CACHE/work/rootfs"
}

step_kubeadm() { cached kubeadm "$(stamp_of "$K8S_VERSION" "$GO_VERSION" "$HERE"/kubeadm/go.* "$HERE"/kubeadm/*.go)" build_kubeadm; }
step_image_tools() { cached image-tools "$(stamp_of "$GO_VERSION" "$ROOT"/hack/tools/images/go.* "$ROOT"/hack/tools/images/*/*.go)" build_image_tools; }
step_local_path() { cached local-path "$(stamp_of "$LOCAL_PATH_VERSION" "$GO_VERSION")" build_local_path; }
step_debian() {
  cached debian-node "$(stamp_of "$SUITE" "$NODE_PACKAGES")" build_node_rootfs
  cached debian-base "$(stamp_of "$SUITE" "$BASE_PACKAGES")" build_base_rootfs
}

main() {
  mkdir -p "$CACHE/work" "$KBIN"
  GO_VERSION=$("$GO" env GOVERSION)
  if [[ $# -gt 0 ]]; then # single steps, for warming the cache in parallel
    local s; for s in "$@"; do "step_${s//-/_}"; done; return
  fi
  "$ROOT/hack/build-tools.sh" k8s etcd coredns images >&2
  step_image_tools; step_kubeadm; step_local_path; step_debian
  local images_stamp node_stamp
  images_stamp=$(stamp_of "$HERE/images.env" "$K8S_VERSION" "$BIN/pause" "$(cat "$BIN"/.k8s.stamp "$BIN"/.etcd.stamp "$BIN"/.coredns.stamp "$CACHE"/.image-tools.stamp "$CACHE"/.local-path.stamp "$CACHE"/.debian-base.stamp)")
  cached images "$images_stamp" build_images
  node_stamp=$(stamp_of "$images_stamp" "$KIND_VERSION" "${BASH_SOURCE[0]}" "$HERE/default-storage.yaml" \
    "$(cat "$CACHE"/.kubeadm.stamp "$CACHE"/.debian-node.stamp)")
  if [[ ! -f "$CACHE/node-$node_stamp.tar" ]]; then
    log "assembling node image $node_stamp"
    local start=$SECONDS
    assemble_node
    pack_node "$node_stamp"
    log "node image assembled in $((SECONDS - start))s"
  fi
  echo "$CACHE/node-$node_stamp.tar" > "$CACHE/node.current"
  echo "$CACHE/node-$node_stamp.tar"
}

# Sourcing (tests, debugging) defines the functions without running main.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
