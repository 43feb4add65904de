package nodetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// Options configure a Cluster; zero fields take test-friendly defaults.
type Options struct {
	Members                int
	HeartbeatInterval      time.Duration // default 20ms
	ElectionTimeout        time.Duration // default 200ms
	SnapshotCount          uint64        // default 10000
	SnapshotCatchUpEntries uint64        // default 500 (capped at SnapshotCount)
	RequestTimeout         time.Duration // default 2s
	QuotaBackendBytes      int64         // default raftnode's (2 GiB)
	Seed                   uint64        // network randomness
	// Verbose logs the nodes at info level through t.Log (default: warn).
	Verbose bool
}

// Member is one member slot of a Cluster: its identity and data dir, and
// the running node, if any.
type Member struct {
	Name    string
	URL     string
	Dir     string
	ID      uint64
	mu      sync.Mutex
	node    *raftnode.Node
	confLog []*raftpb.ConfState // every ConfState it applied, across restarts
}

// Node is the running node (nil when stopped).
func (m *Member) Node() *raftnode.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// ConfStates returns every ConfState this member applied.
func (m *Member) ConfStates() []*raftpb.ConfState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*raftpb.ConfState(nil), m.confLog...)
}

// Cluster is an in-process cluster on one Network.
type Cluster struct {
	t       testing.TB
	opts    Options
	Net     *Network
	token   string
	mu      sync.Mutex
	members []*Member
	initial []raftnode.Peer
}

// NewCluster bootstraps opts.Members members and waits for a leader. The
// cluster stops when the test ends.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts = opts.withDefaults()
	c := &Cluster{t: t, opts: opts, Net: NewNetwork(opts.Seed), token: fmt.Sprintf("tok-%d", time.Now().UnixNano())}
	for i := range opts.Members {
		m := c.newMember(fmt.Sprintf("n%d", i))
		c.initial = append(c.initial, raftnode.Peer{Name: m.Name, PeerURLs: []string{m.URL}})
	}
	for i := range opts.Members {
		if err := c.Start(i, raftnode.ClusterStateNew); err != nil {
			t.Fatalf("start member %d: %v", i, err)
		}
	}
	t.Cleanup(c.StopAll)
	c.WaitLeader(10 * time.Second)
	return c
}

func (o Options) withDefaults() Options {
	if o.Members == 0 {
		o.Members = 3
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 20 * time.Millisecond
	}
	if o.ElectionTimeout == 0 {
		o.ElectionTimeout = 200 * time.Millisecond
	}
	if o.SnapshotCount == 0 {
		o.SnapshotCount = 10000
	}
	if o.SnapshotCatchUpEntries == 0 {
		o.SnapshotCatchUpEntries = min(500, o.SnapshotCount)
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 2 * time.Second
	}
	return o
}

func (c *Cluster) newMember(name string) *Member {
	dir := filepath.Join(c.t.TempDir(), name)
	m := &Member{Name: name, URL: fmt.Sprintf("http://%s.test:2380", name), Dir: dir}
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m
}

// Members returns the member slots (including stopped ones).
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns slot i.
func (c *Cluster) Member(i int) *Member { return c.Members()[i] }

func (c *Cluster) logger() *zap.Logger {
	level := zap.WarnLevel
	if c.opts.Verbose {
		level = zap.InfoLevel
	}
	return zaptest.NewLogger(c.t, zaptest.Level(level))
}

// Start starts member i with the given --initial-cluster-state.
func (c *Cluster) Start(i int, state string) error {
	m := c.Member(i)
	m.mu.Lock()
	running := m.node != nil
	m.mu.Unlock()
	if running {
		return fmt.Errorf("member %d is running", i)
	}
	cfg := raftnode.Config{
		Name: m.Name, DataDir: m.Dir, InitialCluster: c.initialFor(state), InitialClusterState: state,
		InitialClusterToken: c.token, AdvertisePeerURLs: []string{m.URL},
		AdvertiseClientURLs: []string{fmt.Sprintf("http://%s.test:2379", m.Name)},
		Transport:           c.Net.NewTransport(m.URL),
		HeartbeatInterval:   c.opts.HeartbeatInterval, ElectionTimeout: c.opts.ElectionTimeout,
		SnapshotCount: c.opts.SnapshotCount, SnapshotCatchUpEntries: c.opts.SnapshotCatchUpEntries,
		RequestTimeout: c.opts.RequestTimeout, Logger: c.logger().With(zap.String("slot", m.Name)),
		QuotaBackendBytes: c.opts.QuotaBackendBytes,
		OnApplyConfChange: func(cs *raftpb.ConfState) {
			m.mu.Lock()
			m.confLog = append(m.confLog, proto.Clone(cs).(*raftpb.ConfState))
			m.mu.Unlock()
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := raftnode.Start(ctx, cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.node, m.ID = n, n.ID()
	m.mu.Unlock()
	return nil
}

// initialFor is the --initial-cluster to pass: the bootstrap members for
// "new", every current member for "existing" (as an operator would).
func (c *Cluster) initialFor(state string) []raftnode.Peer {
	if state == raftnode.ClusterStateNew {
		return c.initial
	}
	var out []raftnode.Peer
	for _, m := range c.Members() {
		out = append(out, raftnode.Peer{Name: m.Name, PeerURLs: []string{m.URL}})
	}
	return out
}

// Stop stops member i gracefully (a leader hands over leadership first).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	c.stop(i, true)
}

// Crash stops member i abruptly: no leadership transfer, messages in
// flight to it are lost. What it fsynced survives, as after kill -9.
func (c *Cluster) Crash(i int) {
	c.t.Helper()
	c.stop(i, false)
}

func (c *Cluster) stop(i int, graceful bool) {
	c.t.Helper()
	m := c.Member(i)
	m.mu.Lock()
	n := m.node
	m.node = nil
	m.mu.Unlock()
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !graceful {
		// An expired context skips the leadership transfer; the node
		// stops at once and its endpoint leaves the network.
		expired, cancelNow := context.WithCancel(ctx)
		cancelNow()
		_ = n.Stop(expired)
	} else if err := n.Stop(ctx); err != nil {
		c.t.Fatalf("stop %s: %v", m.Name, err)
	}
	select {
	case <-n.Done():
	case <-ctx.Done():
		c.t.Fatalf("member %s did not stop", m.Name)
	}
}

// Restart crashes member i (if running) and starts it again on the same
// data dir, or on an empty one if wipe.
func (c *Cluster) Restart(i int, wipe bool) error {
	c.Crash(i)
	if wipe {
		if err := os.RemoveAll(c.Member(i).Dir); err != nil {
			return err
		}
	}
	return c.Start(i, raftnode.ClusterStateExisting)
}

// StopAll stops every running member (crash-style: fast).
func (c *Cluster) StopAll() {
	for i := range c.Members() {
		c.Crash(i)
	}
}

// Running returns the running nodes.
func (c *Cluster) Running() []*raftnode.Node {
	var out []*raftnode.Node
	for _, m := range c.Members() {
		if n := m.Node(); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// WaitLeader waits until the running members that can reach a quorum agree
// on one leader, and returns its slot index.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	var idx int
	c.Eventually(timeout, "a leader", func() bool {
		idx = c.leaderIndex()
		return idx >= 0
	})
	return idx
}

// leaderIndex is the slot of the member that leads and whose leadership
// is acknowledged by a majority of the running members; -1 if none.
func (c *Cluster) leaderIndex() int {
	votes := map[uint64]int{}
	ms := c.Members()
	for _, m := range ms {
		if n := m.Node(); n != nil && n.Leader() != 0 {
			votes[n.Leader()]++
		}
	}
	for i, m := range ms {
		n := m.Node()
		if n != nil && n.Leader() == n.ID() && votes[n.ID()] > len(c.Running())/2 {
			return i
		}
	}
	return -1
}

// Leader is the current leader's slot, waiting up to 10s for one.
func (c *Cluster) Leader() int {
	c.t.Helper()
	return c.WaitLeader(10 * time.Second)
}

// Eventually polls cond every 10ms until it holds or timeout passes.
func (c *Cluster) Eventually(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ChangeMembers runs a membership change on the leader, retrying while
// leadership moves, and returns the response.
func (c *Cluster) ChangeMembers(ctx context.Context, changes ...*nodepb.MemberChange) (*nodepb.ChangeMembersResponse, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n := c.Member(c.Leader()).Node()
		if n == nil {
			continue
		}
		resp, err := n.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: changes})
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// AddMember creates a new member slot, adds it as a learner through the
// leader and starts it joining; it returns the slot index.
func (c *Cluster) AddMember(ctx context.Context, name string) (int, error) {
	m := c.newMember(name)
	_, err := c.ChangeMembers(ctx, &nodepb.MemberChange{Type: nodepb.MemberChange_ADD_LEARNER, Name: name, PeerUrls: []string{m.URL}})
	if err != nil {
		return -1, err
	}
	i := len(c.Members()) - 1
	return i, c.Start(i, raftnode.ClusterStateExisting)
}

// CheckReplicasAgree waits until every running member applied the same
// index and checks that their state machines are identical then.
func (c *Cluster) CheckReplicasAgree(timeout time.Duration) {
	c.t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var applied []uint64
		var sums [][32]byte
		changing := false // a member is still applying: not comparable yet
		for _, n := range c.Running() {
			a, s, err := n.StateDigest()
			if errors.Is(err, raftnode.ErrStateChanging) {
				changing = true
			} else if err != nil {
				c.t.Fatal(err)
			}
			applied, sums = append(applied, a), append(sums, s)
		}
		same := !changing
		for i := range applied {
			if applied[i] != applied[0] {
				same = false
			}
		}
		if same {
			for i := range sums {
				if sums[i] != sums[0] {
					c.t.Fatalf("replicas diverge at applied index %d: %x vs %x", applied[0], sums[i], sums[0])
				}
			}
			return
		}
		last = fmt.Sprint(applied)
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("replicas did not reach one applied index in %v: %s\n%s", timeout, last, c.describe())
}

// describe summarises every member's state, for failure messages.
func (c *Cluster) describe() string {
	var out string
	for _, m := range c.Members() {
		n := m.Node()
		if n == nil {
			out += fmt.Sprintf("  %s: stopped\n", m.Name)
			continue
		}
		st, err := n.Status(context.Background())
		if err != nil {
			out += fmt.Sprintf("  %s: %v (node error %v)\n", m.Name, err, n.Err())
			continue
		}
		first, last := n.LogRange()
		out += fmt.Sprintf("  %s id=%x role=%s leader=%x term=%d commit=%d applied=%d log=[%d,%d] progress=%v\n",
			m.Name, st.Id, st.Role, st.Leader, st.Term, st.Commit, st.Applied, first, last, st.Progress)
	}
	return out
}
