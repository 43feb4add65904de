// Package proctest holds the node's multi-process tests: they build the
// raftnode binary once (TestMain), start 3 or 5 processes on 127.0.0.1 and
// drive them with etcd's own client. They cover what only real processes
// show: kill -9 of members (the leader too) under load without losing an
// acknowledged write, linearizable histories across crashes (porcupine),
// compatibility with go.etcd.io/etcd/client/v3 and with the real etcdctl
// (the README's by-hand commands), and mutual TLS: refusals and a CA and
// leaf rotation under load (tls_test.go). Every test is bounded in time.
//
// The TestProof* tests are issue 11's proofs with clients no one here
// wrote: kube-apiserver (kubeapiserver_test.go), clientv3/concurrency
// (concurrency_test.go), etcdctl (etcdctl_test.go) and watch streams
// checked by node/watchcheck (watch_test.go). They run over a "cluster
// under test" (system_test.go): raftnode by default, or real etcd with
// PROCTEST_SYSTEM=etcd (make test-proofs-etcd), which is how each proof is
// checked to be right. Faults: kill -9, a peer partition through a TCP
// proxy (proxy_test.go) and SIGSTOP/SIGCONT.
package proctest
