#!/usr/bin/env bash
# Builds the offline cluster's tools from Go modules and caches them under
# .cache/k8s/<key>/bin, keyed by the Kubernetes and Go versions. Each tool
# also has a stamp (a hash of its versions and sources): a second run with the
# same inputs rebuilds nothing.
#
# Usage: hack/build-tools.sh [all|k8s|etcd|coredns|helm|kind|images|minio]...
#        hack/build-tools.sh print-bin     # prints the bin dir, builds nothing
#        hack/build-tools.sh print-minio-image  # the S3 server's image reference
#
# Versions come from the environment (the Makefile passes them):
#   K8S_VERSION ETCD_VERSION COREDNS_VERSION HELM_VERSION KIND_VERSION MINIO_VERSION
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/hack/tools"
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
# MinIO has no tags on the proxy: its last commit before the repository was
# archived, as `go list -m github.com/minio/minio@latest` resolves it.
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
GO=${GO:-go}
# Commands also linked into the project's tool dir (on make's PATH), so
# scripts find helm, kind, kubectl 1.36 and etcdctl without knowing the key.
LINK_BIN=${LINK_BIN:-$ROOT/.cache/tools/bin}
NICE=${NICE:-nice -n 10}
export GOFLAGS=${GOFLAGS:--buildvcs=false} CGO_ENABLED=0

go_version=$($GO env GOVERSION)
KEY_DIR="$ROOT/.cache/k8s/${K8S_VERSION}-${go_version}"
BIN="$KEY_DIR/bin"

log() { printf '%s build-tools: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# stamp_of prints a hash of the given strings and files: a tool's inputs.
stamp_of() {
  local item
  for item in "$@"; do
    if [[ -f "$item" ]]; then sha256sum "$item"; else echo "$item"; fi
  done | sha256sum | cut -c1-16
}

# build_if_stale NAME STAMP FUNC: runs FUNC unless BIN/.NAME.stamp holds STAMP.
build_if_stale() {
  local name=$1 stamp=$2 fn=$3 start
  # One builder per tool and cache key: checkouts and make targets share
  # the cache, and a second builder waits for the first, then finds it done.
  exec 9>"$KEY_DIR/.lock-$name"
  flock 9
  if [[ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "$name is up to date ($BIN)"
    exec 9>&-
    return
  fi
  log "building $name"
  start=$SECONDS
  "$fn"
  echo "$stamp" > "$BIN/.$name.stamp"
  log "built $name in $((SECONDS - start))s"
  exec 9>&-
}

# k8s_ldflags stamps the version into the binaries: without it they report
# v0.0.0-master and kubectl, helm and kubelet's node status choke on it.
k8s_ldflags() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-proxy-build"
  done
  echo "$flags"
}

build_k8s() {
  local dir="$TOOLS/k8s"
  if ! grep -q "k8s.io/kubernetes $K8S_VERSION\$" "$dir/go.mod"; then
    echo "hack/tools/k8s/go.mod is not for $K8S_VERSION: run hack/tools/k8s/gen-gomod.sh $K8S_VERSION $ETCD_VERSION" >&2
    exit 1
  fi
  (cd "$dir" && $NICE "$GO" build -trimpath -ldflags "$(k8s_ldflags)" -o "$BIN/k8s.new" ./multicall)
  mv -f "$BIN/k8s.new" "$BIN/k8s"
  (cd "$dir" && $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/cri" ./cri)
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sfn k8s "$BIN/$c"
  done
}

build_etcd() {
  (cd "$TOOLS/etcd" &&
    $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 &&
    $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/etcdctl" go.etcd.io/etcd/etcdctl/v3)
}

# go_install_to_bin installs a module's command with `go install pkg@version`
# (outside any module, so its own go.mod decides the dependency versions).
go_install_to_bin() {
  local pkg=$1 ldflags=$2 tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN="$tmp/bin" $NICE "$GO" install -trimpath -ldflags "$ldflags" "$pkg")
  mv -f "$tmp"/bin/* "$BIN/"
  rm -rf "$tmp"
}

build_coredns() { go_install_to_bin "github.com/coredns/coredns@$COREDNS_VERSION" "-s -w"; }

build_helm() {
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  go_install_to_bin "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$flags"
}

build_kind() { go_install_to_bin "sigs.k8s.io/kind@$KIND_VERSION" "-s -w"; }

# build_minio builds the S3-compatible server the backup e2e scenarios store
# to (the minio image, hack/build-images.sh); not in `all`: only the images
# need it.
build_minio() { go_install_to_bin "github.com/minio/minio@$MINIO_VERSION" "-s -w"; }

build_clusterconfig() {
  (cd "$TOOLS/k8s" && $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/" ./clusterconfig ./hostpathprovisioner)
}

build_images_tools() {
  (cd "$TOOLS/images" && $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/" ./mkimage ./pause ./smokeapp ./runcwrap)
}

build_one() {
  case $1 in
    k8s) build_if_stale k8s "$(stamp_of "$K8S_VERSION" "$go_version" "$TOOLS/k8s/go.mod" "$TOOLS/k8s/go.sum" "$TOOLS"/k8s/multicall/*.go "$TOOLS"/k8s/cri/*.go)" build_k8s ;;
    etcd) build_if_stale etcd "$(stamp_of "$ETCD_VERSION" "$go_version" "$TOOLS/etcd/go.mod" "$TOOLS/etcd/go.sum")" build_etcd ;;
    coredns) build_if_stale coredns "$(stamp_of "$COREDNS_VERSION" "$go_version")" build_coredns ;;
    helm) build_if_stale helm "$(stamp_of "$HELM_VERSION" "$K8S_VERSION" "$go_version")" build_helm ;;
    kind) build_if_stale kind "$(stamp_of "$KIND_VERSION" "$go_version")" build_kind ;;
    minio) build_if_stale minio "$(stamp_of "$MINIO_VERSION" "$go_version")" build_minio ;;
    clusterconfig) build_if_stale clusterconfig "$(stamp_of "$go_version" "$TOOLS/k8s/go.mod" "$TOOLS/k8s/go.sum" "$TOOLS"/k8s/clusterconfig/*.go "$TOOLS"/k8s/hostpathprovisioner/*.go)" build_clusterconfig ;;
    images) build_if_stale images "$(stamp_of "$go_version" "$TOOLS/images/go.mod" "$TOOLS/images/go.sum" "$TOOLS"/images/*/*.go)" build_images_tools ;;
    *) echo "build-tools: unknown tool $1 (want all|k8s|etcd|coredns|helm|kind|images|clusterconfig|minio|print-bin)" >&2; exit 2 ;;
  esac
}

main() {
  if [[ "${1:-}" == print-bin ]]; then echo "$BIN"; return; fi
  # The image tag is the module version's commit (no tags on the proxy).
  if [[ "${1:-}" == print-minio-image ]]; then echo "kuberaft.local/minio:${MINIO_VERSION##*-}"; return; fi
  local targets=("$@")
  [[ ${#targets[@]} -eq 0 || "${targets[0]}" == all ]] && targets=(etcd images k8s clusterconfig coredns helm kind)
  mkdir -p "$BIN"
  local t
  for t in "${targets[@]}"; do build_one "$t"; link_one "$t"; done
}

# link_one links a group's user-facing commands into LINK_BIN.
link_one() {
  local cmds=() c
  case $1 in
    k8s) cmds=(kubectl) ;;
    etcd) cmds=(etcdctl) ;;
    helm | kind) cmds=("$1") ;;
  esac
  [[ ${#cmds[@]} -gt 0 ]] || return 0
  mkdir -p "$LINK_BIN"
  for c in "${cmds[@]}"; do ln -sfn "$BIN/$c" "$LINK_BIN/$c"; done
}

main "$@"
