# Power-loss tests of the node: raftnode members on powerfail FUSE mounts
# (node/internal/powerfail) lose every unsynced write at a simulated power
# cut. `make test` runs them through test-go (TestPowerLoss, 50 cuts); the
# target here runs them alone, with POWERLOSS_ITERATIONS for more.

POWERLOSS_ITERATIONS ?= 50

TEST_GO_DEPS += fuse

.PHONY: fuse test-powerloss
fuse: ## Make FUSE usable for the power-loss tests (/dev/fuse, fuse3; root)
	@hack/node/fuse.sh

test-powerloss: fuse ## Power-loss tests alone (POWERLOSS_ITERATIONS=N, KUBERAFT_POWERLOSS_SEED=S to replay)
	KUBERAFT_POWERLOSS_ITERATIONS=$(POWERLOSS_ITERATIONS) $(GO) test -count=1 -timeout 30m -v \
	  -run 'TestPowerLoss|TestCrash|TestNamespace|TestTruncate|TestNothingDurable' \
	  ./node/internal/powerfail/ ./node/proctest/
