#!/usr/bin/env bash
# Checks the chart's alert rules with promtool and runs their unit tests
# (test/rules/*.test.yaml). PROMTOOL is the binary (make passes the cached
# one); a missing binary fails, it never skips.
#
# Usage: hack/tools/promtool/test-rules.sh PROMTOOL
set -euo pipefail
cd "$(dirname "$0")/../../.."
promtool=${1:?usage: test-rules.sh PROMTOOL}
[[ -x "$promtool" ]] || { echo "test-rules: promtool not found at $promtool (run make tools-promtool)" >&2; exit 1; }
"$promtool" check rules charts/kuberaft/files/alerts/*.yaml
"$promtool" test rules test/rules/*.test.yaml
