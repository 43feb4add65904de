# Delivery: the Helm chart, the end-to-end suite on a real cluster, the demo.
#
# chart-test and e2e run in `make test` (after the cluster smoke test of the
# offline Kubernetes fragment). e2e uses KUBECONFIG when it is set, else it
# brings up the offline local cluster (make cluster-up) and uses that.

# helm and kubectl v1.36 come from the cluster fragment's tool build
# (K8S_BIN, hack/build-tools.sh); recursive so the fragment order is free.
HELM ?= $(K8S_BIN)/helm
E2E_PATH = $(K8S_BIN):$(PATH)
E2E_TIMEOUT ?= 60m
# E2E_RUN selects scenarios (go test -run); empty runs them all.
E2E_RUN ?=

.PHONY: chart-crds chart-test e2e demo demo-down

chart-crds: ## Copy config/crd/bases and config/rbac roles into the Helm chart
	hack/e2e/chart-sync.sh sync

chart-test: tools-helm ## Helm chart: copies of config/ current, helm lint, helm template, schema
	HELM="$(HELM)" hack/e2e/chart-test.sh

e2e: ## End-to-end suite (test/e2e) on $$KUBECONFIG, or on the offline local cluster
	PATH="$(E2E_PATH)" E2E_TIMEOUT="$(E2E_TIMEOUT)" E2E_RUN="$(E2E_RUN)" HELM="$(HELM)" MAKE="$(MAKE)" hack/e2e/run.sh

demo: ## A cluster (kubeconfig, kind or offline), the operator, a sample RaftCluster, put/get
	PATH="$(E2E_PATH)" HELM="$(HELM)" MAKE="$(MAKE)" hack/demo.sh up

demo-down: ## Remove what make demo installed (and the cluster it started)
	PATH="$(E2E_PATH)" HELM="$(HELM)" MAKE="$(MAKE)" hack/demo.sh down

# `make manifests` refreshes the chart's copies after controller-gen ran
# (this fragment sorts after the operator's), so `make verify` catches a
# stale chart as well.
MANIFEST_TARGETS += chart-crds
TEST_TARGETS += chart-test e2e
