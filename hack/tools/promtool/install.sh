#!/usr/bin/env bash
# Builds promtool from the Prometheus Go module and installs it into BINDIR.
# `go install pkg@version` runs outside any module, so Prometheus's own
# go.mod decides the dependency versions (as hack/build-tools.sh does for
# helm and kind). A flock lets checkouts and make targets share the cache.
#
# Usage: hack/tools/promtool/install.sh BINDIR VERSION
set -euo pipefail
bindir=$1 version=$2
mkdir -p "$bindir"
exec 9>"$bindir/.lock-promtool"
flock 9
if [[ -x "$bindir/promtool" ]] && [[ "$(cat "$bindir/.promtool.version" 2>/dev/null)" == "$version" ]]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$tmp/bin" nice -n 10 go install -trimpath -ldflags "-s -w" \
  "github.com/prometheus/prometheus/cmd/promtool@$version")
mv -f "$tmp/bin/promtool" "$bindir/promtool"
echo "$version" > "$bindir/.promtool.version"
