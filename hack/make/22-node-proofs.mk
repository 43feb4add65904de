# Issue 11's proofs with real clients and the scale benchmark.
#
# The proofs (node/proctest TestProof*: kube-apiserver, clientv3/concurrency,
# etcdctl, watch streams; checkers in node/watchcheck) run in `make test`
# through test-go against raftnode. test-proofs-etcd runs the same proofs
# against 3 real etcd members: a proof that fails there is a wrong proof.

# The cluster tools build (etcd, etcdctl, kube-apiserver) the proofs start;
# a missing binary fails the proof. K8S_BIN is defined in 30-cluster.mk,
# hence the recursive assignment. test-go already depends on tools-etcd and
# envtest-assets (which builds kube-apiserver).
export KUBERAFT_TOOLS_BIN = $(K8S_BIN)

PROOF_PKGS := ./node/proctest ./node/watchcheck

.PHONY: test-proofs test-proofs-etcd bench-scale
test-proofs: tools-etcd envtest-assets ## Issue 11's proofs against 3 raftnode members
	$(GO) test -count=1 -timeout 20m -run 'TestProof|TestCheck|TestKVModel' $(PROOF_PKGS)

test-proofs-etcd: tools-etcd envtest-assets ## The same proofs against 3 etcd v3.6 members (checks the proofs)
	PROCTEST_SYSTEM=etcd $(GO) test -count=1 -timeout 20m -run 'TestProof|TestCheck|TestKVModel' $(PROOF_PKGS)

bench-scale: tools-etcd ## Scale benchmark: ~256 MB and ~1 GiB (SCALE_TOTAL), + an added member; raftnode vs etcd
	hack/node/bench-scale.sh $(NODE_ETCD_BIN)
