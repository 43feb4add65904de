# The node: the etcdctl by-hand check and the benchmark against etcd.
#
# etcd and etcdctl v3.6 come from the cluster fragment's tool build
# (tools-etcd → $(K8S_BIN)); K8S_BIN is defined there, hence the recursive
# (=) assignments here.

NODE_ETCD_BIN = $(K8S_BIN)
# node/proctest's TestByHand runs docs/node.md's commands against this
# etcdctl; set but missing makes that test fail, not skip. Exported only to
# the test targets: a global export is expanded for every recipe and would
# compute K8S_BIN even for `make help`.
test-go test-operator: export ETCDCTL = $(NODE_ETCD_BIN)/etcdctl

TEST_GO_DEPS += tools-etcd

# raftnode --version prints it.
NODE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: bench bench-etcd-tool build-node
build-node: ## Build raftnode and kvbench (static, CGO_ENABLED=0) into bin/
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(NODE_VERSION)" -o $(BIN)/ ./cmd/raftnode ./cmd/kvbench

bench: tools-etcd ## Benchmark 3 raftnode vs 3 etcd v3.6 members on 127.0.0.1 (KVBENCH_FLAGS, BENCH_DATA)
	hack/node/bench.sh $(NODE_ETCD_BIN)

bench-etcd-tool: ## Drive 3 raftnode members with etcd's own tools/benchmark (v3.6.8), unchanged
	hack/node/etcd-benchmark.sh
