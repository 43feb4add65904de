# The offline Kubernetes: tool builds, envtest assets, the local cluster,
# images without docker and the cluster smoke test. See hack/README.md.

K8S_VERSION     ?= v1.36.3
ETCD_VERSION    ?= v3.6.8
COREDNS_VERSION ?= v1.15.0
HELM_VERSION    ?= v3.22.0
KIND_VERSION    ?= v0.33.0
TAG             ?= dev
export K8S_VERSION ETCD_VERSION COREDNS_VERSION HELM_VERSION KIND_VERSION

# Where the built tools live: .cache/k8s/<k8s version>-<go version>/bin.
# Computed on first use and then remembered (the eval), so a target that
# does not need it (`make help` above all) runs no subprocess for it.
K8S_BIN     = $(eval K8S_BIN := $$(shell K8S_VERSION=$(K8S_VERSION) hack/build-tools.sh print-bin))$(K8S_BIN)
ENVTEST_DIR = $(patsubst %/bin,%/envtest,$(K8S_BIN))

# envtest: a user-provided KUBEBUILDER_ASSETS wins; otherwise the built ones,
# exported only to the targets that run envtest (a global export would be
# expanded for every recipe, `make help`'s included).
ifeq ($(origin KUBEBUILDER_ASSETS),undefined)
test-go test-operator envtest-assets: export KUBEBUILDER_ASSETS = $(ENVTEST_DIR)
ENVTEST_FROM_USER :=
else
export KUBEBUILDER_ASSETS
ENVTEST_FROM_USER := yes
endif

.PHONY: tools print-toolbin envtest-assets cluster-up cluster-down cluster-status \
        cluster-kubeconfig images cluster-smoke test-hack-tools kind-up kind-down

tools: ## Build kube components, etcd, etcdctl, CoreDNS, helm, kind, image tools (cached)
	hack/build-tools.sh all

tools-%: ## Build one tool group: tools-k8s, tools-etcd, tools-coredns, tools-helm, tools-kind, tools-images, tools-clusterconfig, tools-minio
	hack/build-tools.sh $*

print-toolbin: ## Print the directory of the built tools
	@echo $(K8S_BIN)

envtest-assets: ## Make KUBEBUILDER_ASSETS (kube-apiserver, etcd, kubectl) and print it
ifeq ($(ENVTEST_FROM_USER),yes)
	@echo "$(KUBEBUILDER_ASSETS)"
else
	@hack/build-tools.sh k8s etcd >&2
	@mkdir -p $(ENVTEST_DIR)
	@for b in kube-apiserver etcd kubectl; do ln -sfn ../bin/$$b $(ENVTEST_DIR)/$$b; done
	@echo "$(ENVTEST_DIR)"
endif

cluster-up: ## Start the offline single-node cluster (root; builds tools first)
	hack/local-cluster.sh up

cluster-down: ## Stop the offline cluster and clean the machine
	hack/local-cluster.sh down

cluster-status: ## Show the offline cluster's processes and nodes
	hack/local-cluster.sh status

cluster-kubeconfig: ## Print the offline cluster's kubeconfig path
	@hack/local-cluster.sh kubeconfig

images: ## Build raftnode/operator/pause/smokeapp images (TAG=dev) and load them into the running cluster
	hack/build-images.sh $(TAG)
	hack/load-images.sh $(TAG)

cluster-smoke: cluster-up ## StatefulSet + PVC + pod DNS smoke test on the offline cluster
	hack/cluster-smoke.sh

test-hack-tools: ## Vet and unit-test the image tools and the cluster config tool (hack/tools)
	cd hack/tools/images && $(GO) vet ./... && $(GO) test -count=1 -timeout 5m ./...
	cd hack/tools/k8s && $(GO) vet ./clusterconfig && $(GO) test -count=1 -timeout 5m ./clusterconfig

kind-up: ## Create a kind cluster and load our images (needs docker + internet)
	hack/kind-cluster.sh up

kind-down: ## Delete the kind cluster
	hack/kind-cluster.sh down

TEST_GO_DEPS += envtest-assets
TEST_TARGETS += test-hack-tools cluster-smoke
