#!/usr/bin/env bash
# Static tests of the Helm chart (no cluster needed): the copies of config/
# are current, `helm lint --strict` passes, `helm template` renders the
# expected objects with least-privilege RBAC, and values.schema.json refuses
# bad values. HELM names the helm binary (make passes the toolbin's).
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM=${HELM:-helm}
chart=charts/kuberaft
command -v "$HELM" >/dev/null || { echo "chart-test: helm not found at '$HELM' (run make tools)" >&2; exit 1; }

fail() { echo "chart-test: FAIL: $*" >&2; exit 1; }
pass=0
ok() { echo "chart-test: ok: $*"; pass=$((pass + 1)); }

hack/e2e/chart-sync.sh check
ok "crds/ and files/rbac equal config/"

"$HELM" lint --strict "$chart" >/dev/null || { "$HELM" lint --strict "$chart"; fail "helm lint"; }
ok "helm lint --strict"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$HELM" template kr "$chart" --namespace kuberaft-system --include-crds >"$out/default.yaml"
kinds=$(grep -E '^kind: ' "$out/default.yaml" | sort | uniq -c)
for k in CustomResourceDefinition ServiceAccount ClusterRole ClusterRoleBinding Deployment Service; do
  grep -qE "^kind: $k\$" "$out/default.yaml" || fail "helm template renders no $k (rendered: $kinds)"
done
ok "helm template renders CRDs, ServiceAccount, ClusterRole(+Binding), Deployment, metrics Service"

# Least privilege: never bind cluster-admin, never a wildcard verb/resource.
grep -qE 'name: cluster-admin' "$out/default.yaml" && fail "chart binds cluster-admin"
grep -qE "^\s*-\s*['\"]?\*['\"]?\s*$" "$out/default.yaml" && fail "chart grants a wildcard rule"
ok "RBAC has no cluster-admin and no wildcard"

grep -q 'image: "kuberaft.local/operator:0.1.0"' "$out/default.yaml" || fail "default image is not repository:appVersion"
grep -q 'imagePullPolicy: IfNotPresent' "$out/default.yaml" || fail "default pullPolicy is not IfNotPresent"
"$HELM" template kr "$chart" --set image.tag=e2e-a --set image.pullPolicy=Never >"$out/set.yaml"
grep -q 'image: "kuberaft.local/operator:e2e-a"' "$out/set.yaml" || fail "image.tag is not honoured"
grep -q 'imagePullPolicy: Never' "$out/set.yaml" || fail "image.pullPolicy is not honoured"
ok "image repository/tag/pullPolicy values"

"$HELM" template kr "$chart" --set metrics.enabled=false >"$out/nometrics.yaml"
grep -q -- '--metrics-bind-address=0' "$out/nometrics.yaml" || fail "metrics.enabled=false still serves metrics"
grep -qE '^kind: Service$' "$out/nometrics.yaml" && fail "metrics.enabled=false still renders the metrics Service"
"$HELM" template kr "$chart" --set rbac.create=false >"$out/norbac.yaml"
grep -qE '^kind: (Cluster)?Role' "$out/norbac.yaml" && fail "rbac.create=false still renders RBAC"
ok "metrics.enabled and rbac.create toggles"

# A namespaced install: the operator's rules become a Role (+Binding) in each
# watched namespace, no ClusterRole, and the operator is told to watch them.
"$HELM" template kr "$chart" --namespace kuberaft-system --set 'watchNamespaces={db,kv}' >"$out/ns.yaml"
grep -q -- '--watch-namespaces=db,kv' "$out/ns.yaml" || fail "watchNamespaces does not set --watch-namespaces"
grep -qE '^kind: ClusterRole(Binding)?$' "$out/ns.yaml" && fail "watchNamespaces still renders a ClusterRole"
for ns in db kv; do
  [[ $(grep -cE "^  namespace: $ns\$" "$out/ns.yaml") -ge 2 ]] || fail "watchNamespaces renders no Role+RoleBinding in $ns"
done
grep -q -- '--watch-namespaces' "$out/default.yaml" && fail "the default install restricts namespaces"
ok "watchNamespaces: Roles per namespace and --watch-namespaces"
grep -qE '^kind: NetworkPolicy$' "$out/default.yaml" && fail "NetworkPolicies render although networkPolicy.enabled defaults to false"
"$HELM" template kr "$chart" --set networkPolicy.enabled=true --set 'networkPolicy.namespaces={db,apps}' >"$out/netpol.yaml"
[[ $(grep -cE '^kind: NetworkPolicy$' "$out/netpol.yaml") == 2 ]] || fail "networkPolicy.enabled with 2 namespaces does not render 2 NetworkPolicies"
grep -q 'port: 2380' "$out/netpol.yaml" && grep -q 'raft.kuberaft.io/client: "true"' "$out/netpol.yaml" || fail "NetworkPolicy lacks the peer rule or the client label"
if "$HELM" template kr "$chart" --set networkPolicy.enabled=true >/dev/null 2>&1; then
  fail "values.schema.json accepts networkPolicy.enabled without namespaces"
fi
ok "networkPolicy: off by default; per namespace when enabled; schema needs namespaces"

# The schema refuses what would render a broken Deployment.
for bad in image.pullPolicy=Sometimes replicaCount=-1 metrics.port=0 unknownKey=1; do
  if "$HELM" template kr "$chart" --set "$bad" >/dev/null 2>"$out/err"; then
    fail "values.schema.json accepts --set $bad"
  fi
done
if "$HELM" template kr "$chart" --set replicaCount=2 --set leaderElection.enabled=false >/dev/null 2>&1; then
  fail "values.schema.json accepts 2 replicas without leader election"
fi
ok "values.schema.json refuses bad values"

# Monitoring objects: none by default, each one behind its own value.
grep -qE '^kind: (ServiceMonitor|PodMonitor|PrometheusRule)$' "$out/default.yaml" && fail "monitoring objects render by default"
grep -q 'kuberaft-raftcluster.json' "$out/default.yaml" && fail "the dashboard renders by default"
"$HELM" template kr "$chart" --set monitoring.serviceMonitor.enabled=true --set monitoring.podMonitor.enabled=true \
  --set monitoring.prometheusRule.enabled=true --set monitoring.grafanaDashboard.enabled=true >"$out/monitoring.yaml"
for k in ServiceMonitor PodMonitor PrometheusRule; do
  grep -qE "^kind: $k\$" "$out/monitoring.yaml" || fail "monitoring.*.enabled renders no $k"
done
grep -q 'alert: KuberaftNoLeader' "$out/monitoring.yaml" || fail "the PrometheusRule lacks the rule file's alerts"
grep -q '"uid": "kuberaft-raftcluster"' "$out/monitoring.yaml" || fail "the dashboard ConfigMap lacks the dashboard"
if "$HELM" template kr "$chart" --set monitoring.serviceMonitor.enabled=true --set metrics.enabled=false >/dev/null 2>&1; then
  fail "a ServiceMonitor renders without metrics"
fi
ok "monitoring toggles: ServiceMonitor, PodMonitor, PrometheusRule, dashboard"

echo "chart-test: $pass checks passed"
