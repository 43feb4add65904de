package proctest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/internal/testport"
)

// Fast raft timing for tests (etcd's rule: election ≥ 5 × heartbeat) and a
// small snapshot count so snapshots and compaction happen under load.
var testFlags = []string{"--heartbeat-interval=50", "--election-timeout=500", "--snapshot-count=300", "--snapshot-catchup-entries=100"}

// member is one raftnode process (or its slot while stopped).
type member struct {
	name                              string
	dataDir                           string
	clientPort, peerPort, metricsPort int
	logPath                           string
	cmd                               *exec.Cmd
	exited                            chan struct{}
	exitErr                           error
	// peerProxy, when set, is the TCP proxy the other members reach this
	// one through (advertised peer URL), for partitions; see proxy_test.go.
	peerProxy *tcpProxy
	// scheme is https in a TLS cluster (tls_test.go), else http.
	scheme string
	// extra are flags added to every start (e.g. --restore-from).
	extra []string
}

func (m *member) clientURL() string { return fmt.Sprintf("%s://127.0.0.1:%d", m.scheme, m.clientPort) }
func (m *member) peerURL() string   { return fmt.Sprintf("%s://127.0.0.1:%d", m.scheme, m.peerPort) }

// advertisedPeerURL is where the other members reach m: its proxy if any.
func (m *member) advertisedPeerURL() string {
	if m.peerProxy != nil {
		return m.scheme + "://" + m.peerProxy.addr()
	}
	return m.peerURL()
}
func (m *member) endpoint() string   { return fmt.Sprintf("127.0.0.1:%d", m.clientPort) }
func (m *member) metricsURL() string { return fmt.Sprintf("http://127.0.0.1:%d", m.metricsPort) }

// cluster is a set of raftnode processes on 127.0.0.1.
type cluster struct {
	t       *testing.T
	root    string
	members []*member
	token   string // --initial-cluster-token
	sys     system // what the members run; raftnode unless chosen (system_test.go)
	// tls, when set, runs every member with mutual TLS (tls_test.go).
	tls *tlsEnv
}

// newCluster starts n members as a new cluster and waits for a leader.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return newClusterAt(t, n, nil)
}

// newClusterAt is newCluster with member i's data dir at dataDir(i) (nil:
// under the test's temp dir).
func newClusterAt(t *testing.T, n int, dataDir func(i int) string) *cluster {
	t.Helper()
	return startCluster(&cluster{t: t, root: t.TempDir(), token: "proctest"}, n, dataDir)
}

// startCluster starts n members of c as a new cluster.
func startCluster(c *cluster, n int, dataDir func(i int) string) *cluster {
	t := c.t
	t.Helper()
	for i := range n {
		m := c.newMember(fmt.Sprintf("m%d", i))
		if dataDir != nil {
			m.dataDir = dataDir(i)
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

// newMember allocates a slot with free ports; it is not started.
func (c *cluster) newMember(name string) *member {
	c.t.Helper()
	ports := testport.Reserve(c.t, 3)
	m := &member{
		name: name, dataDir: filepath.Join(c.root, name+".data"), logPath: filepath.Join(c.root, name+".log"),
		clientPort: ports[0], peerPort: ports[1], metricsPort: ports[2], scheme: "http",
	}
	if c.tls != nil {
		m.scheme = "https"
	}
	return m
}

func (c *cluster) initialCluster(extra ...*member) string {
	var parts []string
	for _, m := range append(append([]*member{}, c.members...), extra...) {
		parts = append(parts, m.name+"="+m.advertisedPeerURL())
	}
	return strings.Join(parts, ",")
}

// start runs m's process. A restart uses the same flags: the data dir
// decides, as for etcd.
func (c *cluster) start(m *member, state, initialCluster string) {
	c.t.Helper()
	args := []string{
		"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL(), "--advertise-client-urls", m.clientURL(),
		"--listen-peer-urls", m.peerURL(), "--initial-advertise-peer-urls", m.advertisedPeerURL(),
		"--listen-metrics-urls", m.metricsURL(),
		"--initial-cluster", initialCluster, "--initial-cluster-state", state,
		"--initial-cluster-token", c.token,
	}
	bin, extra := c.sys.command()
	args = append(args, extra...)
	if c.tls != nil {
		args = append(args, c.tls.memberFlags(c.t, m)...)
	}
	args = append(args, m.extra...)
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("start %s: %v", m.name, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func() {
		m.exitErr = cmd.Wait()
		_ = logf.Close()
		close(m.exited)
	}()
}

// kill9 kills m with SIGKILL (no chance to flush or hand over) and waits.
func (c *cluster) kill9(m *member) {
	c.t.Helper()
	c.t.Logf("kill -9 %s", m.name)
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// stop sends SIGTERM and waits up to timeout for a graceful exit.
func (c *cluster) stop(m *member, timeout time.Duration) error {
	c.t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return m.exitErr
	case <-time.After(timeout):
		c.kill9(m)
		return fmt.Errorf("%s did not stop within %v", m.name, timeout)
	}
}

func (c *cluster) running(m *member) bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

func (c *cluster) cleanup() {
	for _, m := range c.members {
		if c.running(m) {
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	c.checkNoRace()
	if c.t.Failed() {
		c.dumpLogs()
	}
}

// checkNoRace fails the test when a race-detector build of raftnode
// (PROCTEST_RACE=1) reported a race: killed processes cannot exit 66, so
// the report is only in their logs.
func (c *cluster) checkNoRace() {
	for _, m := range c.members {
		if data, err := os.ReadFile(m.logPath); err == nil && strings.Contains(string(data), "WARNING: DATA RACE") {
			c.t.Errorf("%s: the race detector reported a data race; see %s", m.name, m.logPath)
		}
	}
}

// dumpLogs prints the tail of every member's log, for a failed test.
func (c *cluster) dumpLogs() {
	for _, m := range c.members {
		data, err := os.ReadFile(m.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		c.t.Logf("---- %s log (last 30 lines) ----\n%s", m.name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.endpoint())
	}
	return eps
}

// client returns a clientv3 client over every member's endpoint.
func (c *cluster) client(eps ...string) *clientv3.Client {
	c.t.Helper()
	if len(eps) == 0 {
		eps = c.endpoints()
	}
	cfg := clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if c.tls != nil {
		cfg.TLS = c.tls.clientConfig(c.t, c.tls.operator)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// leader returns the running member every running member agrees leads, or nil.
func (c *cluster) leader(cli *clientv3.Client) *member {
	var lead uint64
	var leader *member
	for _, m := range c.members {
		if !c.running(m) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.endpoint())
		cancel()
		if err != nil || st.Leader == 0 || (lead != 0 && st.Leader != lead) {
			return nil
		}
		lead = st.Leader
		if st.Leader == st.Header.MemberId {
			leader = m
		}
	}
	return leader
}

// waitLeader polls until the running members agree on a leader.
func (c *cluster) waitLeader(timeout time.Duration) *member {
	c.t.Helper()
	cli := c.client()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := c.leader(cli); l != nil {
			return l
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader within %v", timeout)
	return nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// etcdMember is the wire type of a member in clientv3 responses.
type etcdMember = etcdserverpb.Member

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
