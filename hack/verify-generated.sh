#!/usr/bin/env bash
# Regenerates everything a generator owns and fails if that changed any file:
# committed generated code and manifests must always be current. Comparing
# checksums before and after (rather than `git diff`) lets it run in a dirty
# working tree too.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(node/api api config charts)
sums() { git ls-files -co --exclude-standard -- "${paths[@]}" | sort | xargs -r sha256sum; }
before=$(sums)
make --no-print-directory generate manifests >/dev/null
after=$(sums)
if [[ $before != "$after" ]]; then
  echo "generated files were stale; 'make generate manifests' changed:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  " $3}' | sort -u >&2
  echo "commit the regenerated files" >&2
  exit 1
fi
echo "generated code and manifests are current"
