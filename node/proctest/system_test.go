package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The proofs of issue 11 (kubeapiserver_test.go, concurrency_test.go,
// etcdctl_test.go, watch_test.go) run over a "cluster under test": 3
// raftnode processes, or 3 real etcd processes so a proof can be checked
// against etcd first (a proof that fails on etcd is a wrong proof):
//
//	PROCTEST_SYSTEM=etcd go test ./node/proctest -run 'TestProof'
//
// The default, and what `make test` runs, is raftnode.
const systemEnv = "PROCTEST_SYSTEM"

// toolsBinEnv names the directory of the cluster tools build (etcd,
// etcdctl, kube-apiserver); make exports it. Unset, the tests ask
// hack/build-tools.sh where that build lives.
const toolsBinEnv = "KUBERAFT_TOOLS_BIN"

// system is what the members of a cluster run.
type system struct {
	name string // "raftnode" or "etcd"
	bin  string // the etcd binary (raftnode's is built by TestMain)
}

// command is the binary and the flags beyond the shared etcd-style ones
// (name, URLs, initial cluster) that cluster.start passes to both.
func (s system) command() (string, []string) {
	if s.name != "etcd" {
		return raftnodeBin, append([]string{"--fenced-grace-period=3s"}, testFlags...)
	}
	// The same raft timing and snapshot count as raftnode's testFlags.
	return s.bin, []string{"--heartbeat-interval=50", "--election-timeout=500", "--snapshot-count=300",
		"--logger=zap", "--log-level=warn"}
}

// systemUnderTest reads PROCTEST_SYSTEM; an unknown value or a missing etcd
// binary fails the test.
func systemUnderTest(t *testing.T) system {
	t.Helper()
	switch name := os.Getenv(systemEnv); name {
	case "", "raftnode":
		return system{name: "raftnode"}
	case "etcd":
		return system{name: "etcd", bin: toolBinary(t, "etcd")}
	default:
		t.Fatalf("%s=%q: want raftnode or etcd", systemEnv, name)
		return system{}
	}
}

// clusterOptions are the choices of newSystemCluster.
type clusterOptions struct {
	// peerProxies puts a TCP proxy in front of every member's peer port
	// (c.partition / c.heal).
	peerProxies bool
}

// newSystemCluster starts 3 members of the system under test.
func newSystemCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, root: t.TempDir(), token: "proctest", sys: systemUnderTest(t)}
	t.Logf("cluster under test: 3 %s members", c.sys.name)
	for i := range 3 {
		m := c.newMember(fmt.Sprintf("m%d", i))
		if opts.peerProxies {
			m.peerProxy = startProxy(t, m.endpointPeer())
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(c.cleanup)
	for _, m := range c.members {
		c.start(m, "new", c.initialCluster())
	}
	c.waitLeader(30 * time.Second)
	return c
}

func (m *member) endpointPeer() string { return fmt.Sprintf("127.0.0.1:%d", m.peerPort) }

// partition drops (not refuses, as a lost network would) every byte on
// the connections other members open to m. What that cuts depends on who
// dials: raftnode's sender dials the receiver, so m hears nothing from its
// peers (m is deaf, and as leader steps down by CheckQuorum); etcd's
// rafthttp receives on streams the receiver dials, so there m's messages
// to its peers are lost (m is mute) while m still hears them. Either way
// the peers elect a new leader while m is cut off.
func (c *cluster) partition(m *member) {
	c.t.Helper()
	c.t.Logf("partition %s from its peers", m.name)
	m.peerProxy.blackhole()
}

// heal ends partition(m).
func (c *cluster) heal(m *member) {
	c.t.Helper()
	c.t.Logf("heal %s", m.name)
	m.peerProxy.heal()
}

// pause stops m with SIGSTOP: to everyone else, peers and clients, it is
// gone without a word, and on resume it still believes what it believed
// (the stale-leader fault). resume sends SIGCONT.
func (c *cluster) pause(m *member) {
	c.t.Helper()
	c.t.Logf("pause (SIGSTOP) %s", m.name)
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP %s: %v", m.name, err)
	}
}

func (c *cluster) resume(m *member) {
	c.t.Helper()
	c.t.Logf("resume (SIGCONT) %s", m.name)
	if err := m.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("SIGCONT %s: %v", m.name, err)
	}
}

var (
	toolsBinOnce sync.Once
	toolsBinDir  string
	toolsBinErr  error
)

// toolBinary returns the path of a cluster tool (etcd, etcdctl,
// kube-apiserver) or fails the test saying how to build it.
func toolBinary(t *testing.T, name string) string {
	t.Helper()
	toolsBinOnce.Do(func() {
		if dir := os.Getenv(toolsBinEnv); dir != "" {
			toolsBinDir = dir
			return
		}
		out, err := exec.Command("../../hack/build-tools.sh", "print-bin").Output()
		toolsBinDir, toolsBinErr = strings.TrimSpace(string(out)), err
	})
	if toolsBinErr != nil {
		t.Fatalf("cannot locate the cluster tools (%s unset, hack/build-tools.sh print-bin: %v)", toolsBinEnv, toolsBinErr)
	}
	path := filepath.Join(toolsBinDir, name)
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		t.Fatalf("%s is missing at %s (%v): run `make tools` (or make envtest-assets) first", name, path, err)
	}
	return path
}
