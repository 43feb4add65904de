# kind on this offline machine: a node image built without pulls
# (hack/kind/build-node-image.sh), a 3-node cluster (hack/kind-cluster.sh)
# and the e2e scenarios only a multi-node cluster can show. `make test` runs
# e2e-kind after the offline cluster's e2e (fragment 50) has torn its cluster
# down; see README "e2e on kind" for what runs where.

# The scenarios e2e-kind runs in `make test`: the helm install they all
# need, spread and node-drain-under-load (E2E_MULTINODE=1 adds them to the
# suite) and the headline rolling upgrade. Everything else runs on the
# offline cluster in `make e2e`; E2E_KIND_RUN= (empty) runs the whole suite
# on kind.
E2E_KIND_RUN ?= ^TestE2E$$/^(install-helm|spread|node-drain-under-load|rolling-upgrade-under-load)$$

.PHONY: kind-node-image e2e-kind kind-host-packages

kind-host-packages: ## Install docker.io, mmdebstrap, jq (Debian; idempotent)
	hack/kind/host-packages.sh

kind-node-image: kind-host-packages ## Build kind's node image offline (cached under .cache/kind)
	hack/kind/build-node-image.sh

# kind and the offline cluster change the same iptables and cannot run at
# once; in `make test` the offline cluster is still up from cluster-smoke
# and e2e, so it is stopped first (down is a no-op when nothing runs).
e2e-kind: kind-host-packages ## e2e on a 3-node kind cluster (stops the offline cluster first; fails if kind cannot be provisioned)
	hack/local-cluster.sh down
	PATH="$(E2E_PATH)" E2E_TIMEOUT="$(E2E_TIMEOUT)" E2E_RUN="$(E2E_KIND_RUN)" HELM="$(HELM)" MAKE="$(MAKE)" hack/kind/e2e.sh

TEST_TARGETS += e2e-kind
