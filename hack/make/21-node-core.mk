# The node's replica core (state machine, storage, raft driver, transport,
# in-process cluster tests). `make test` runs these through test-go; the
# targets here run them alone, or longer.

NODE_CORE_PKGS := ./node/kv/... ./node/storage/... ./node/raftnode/... \
  ./node/transport/... ./node/metrics/... ./node/nodetest/...

.PHONY: test-node-core soak-node-core
test-node-core: ## Tests of the node's replica core only (a few minutes)
	$(GO) test -count=1 -timeout 15m $(NODE_CORE_PKGS)

soak-node-core: ## The in-process cluster scenarios 10x longer (KUBERAFT_SOAK=N to change)
	KUBERAFT_SOAK=$${KUBERAFT_SOAK:-10} $(GO) test -count=1 -timeout 60m ./node/nodetest/...
