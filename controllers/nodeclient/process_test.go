package nodeclient_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/internal/testport"
)

// proc is one raftnode process on 127.0.0.1, standing in for a member pod.
type proc struct {
	name                string
	client, peer, probe int
	dir                 string
	cmd                 *exec.Cmd
	exited              chan struct{}
}

type procs struct {
	t     *testing.T
	bin   string
	root  string
	nodes map[string]*proc
}

// buildRaftnode builds the node binary the operator will run (the test
// execs it; the operator's packages never import the node's).
func buildRaftnode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "raftnode")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/kuberaft/kuberaft/cmd/raftnode")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build raftnode: %v\n%s", err, out)
	}
	return bin
}

func (ps *procs) add(name string) *proc {
	ports := testport.Reserve(ps.t, 3)
	p := &proc{name: name, client: ports[0], peer: ports[1], probe: ports[2], dir: filepath.Join(ps.root, name)}
	ps.nodes[name] = p
	return p
}

func (p *proc) peerURL() string { return fmt.Sprintf("http://127.0.0.1:%d", p.peer) }

func (ps *procs) initialCluster(names ...string) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, n+"="+ps.nodes[n].peerURL())
	}
	return strings.Join(parts, ",")
}

func (ps *procs) start(name, state, initial string) {
	ps.t.Helper()
	p := ps.nodes[name]
	log, err := os.OpenFile(filepath.Join(ps.root, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		ps.t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", p.client)
	p.cmd = exec.Command(ps.bin, "--name", name, "--data-dir", p.dir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", p.peerURL(), "--initial-advertise-peer-urls", p.peerURL(),
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", p.probe),
		"--initial-cluster", initial, "--initial-cluster-state", state, "--initial-cluster-token", "kv-uid",
		"--heartbeat-interval=50", "--election-timeout=500", "--fenced-grace-period=20s")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		ps.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); _ = log.Close(); close(p.exited) }()
}

func (ps *procs) stop(name string) {
	p := ps.nodes[name]
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.cmd = nil
	}
}

func (ps *procs) cleanup() {
	for name := range ps.nodes {
		ps.stop(name)
	}
	if ps.t.Failed() {
		for name := range ps.nodes {
			b, _ := os.ReadFile(filepath.Join(ps.root, name+".log"))
			ps.t.Logf("--- %s log (tail) ---\n%s", name, tail(string(b), 3000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// eventually polls cond every 100ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %s", what, d, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ep(name string) nodeclient.Endpoint {
	return nodeclient.Endpoint{Namespace: "db", Service: "kv-peer", Pod: name}
}

// TestAgainstRaftnodeProcesses drives real raftnode processes through the
// gRPC NodeClient with the operator's sequence of steps: 1→5 by adding four
// learners in one change and promoting all four in one joint change, moving
// leadership, 5→3 and then 3→1 by removing two members in one joint change
// each, and seeing a removed member fenced on its status page. It checks the wire contract the
// planner relies on: roles, names, the leader's progress, joint state,
// membership answers.
func TestAgainstRaftnodeProcesses(t *testing.T) {
	ps := &procs{t: t, bin: buildRaftnode(t), root: t.TempDir(), nodes: map[string]*proc{}}
	t.Cleanup(ps.cleanup)
	names := []string{"kv-0", "kv-1", "kv-2", "kv-3", "kv-4"}
	for _, n := range names {
		ps.add(n)
	}
	c := nodeclient.NewGRPC(nodeclient.Options{
		CallTimeout: 2 * time.Second, ChangeTimeout: 10 * time.Second,
		Address:     func(e nodeclient.Endpoint) string { return fmt.Sprintf("127.0.0.1:%d", ps.nodes[e.Pod].client) },
		HTTPAddress: func(e nodeclient.Endpoint) string { return fmt.Sprintf("127.0.0.1:%d", ps.nodes[e.Pod].probe) },
	})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	status := func(name string) *nodeclient.Status {
		st, err := c.Status(ctx, ep(name))
		if err != nil {
			return nil
		}
		return st
	}

	ps.start("kv-0", "new", ps.initialCluster("kv-0"))
	eventually(t, 20*time.Second, "kv-0 leads", func() (bool, string) {
		st := status("kv-0")
		return st != nil && st.Role == "Leader" && st.Leader == st.ID && st.Name == "kv-0", fmt.Sprintf("%+v", st)
	})

	var changes []nodeclient.Change
	for _, n := range names[1:] {
		changes = append(changes, nodeclient.Change{Type: nodeclient.AddLearner, Name: n, PeerURLs: []string{ps.nodes[n].peerURL()}})
	}
	added, err := c.ChangeMembers(ctx, ep("kv-0"), changes)
	if err != nil {
		t.Fatalf("add learners: %v", err)
	}
	ids := map[string]uint64{}
	for _, m := range added {
		ids[m.Name] = m.ID
		if m.Name != "kv-0" && !m.IsLearner {
			t.Errorf("%s added as a voter", m.Name)
		}
	}
	all := ps.initialCluster(names...)
	for _, n := range names[1:] {
		ps.start(n, "existing", all)
	}
	eventually(t, 30*time.Second, "learners promotable (the leader's verdict)", func() (bool, string) {
		l := status("kv-0")
		if l == nil || l.Progress == nil {
			return false, "no leader progress"
		}
		for _, n := range names[1:] {
			st := status(n)
			p := l.Progress[ids[n]]
			if st == nil || st.Role != "Learner" || st.ID != ids[n] || !p.IsLearner || !p.Promotable {
				return false, fmt.Sprintf("%s: %+v progress %+v commit %d", n, st, p, l.Commit)
			}
		}
		return true, ""
	})

	changes = nil
	for _, n := range names[1:] {
		changes = append(changes, nodeclient.Change{Type: nodeclient.Promote, ID: ids[n]})
	}
	// The leader's verdict decides, not the match seen above: it also
	// refuses a learner that rejected an append within an election
	// timeout (as a freshly joined one does), so retry while it says "not
	// ready", bounded.
	eventually(t, 30*time.Second, "learners promoted", func() (bool, string) {
		_, err := c.ChangeMembers(ctx, ep("kv-0"), changes)
		if errors.Is(err, rpctypes.ErrGRPCLearnerNotReady) {
			return false, err.Error()
		}
		if err != nil {
			t.Fatalf("promote: %v", err)
		}
		return true, ""
	})
	if st := status("kv-0"); st == nil || len(st.Voters) != 5 || st.Joint || len(st.Learners) != 0 {
		t.Fatalf("after the promotion: %+v", st)
	}

	if err := c.MoveLeader(ctx, ep("kv-0"), ids["kv-4"]); err != nil {
		t.Fatalf("move leader: %v", err)
	}
	eventually(t, 10*time.Second, "kv-4 leads", func() (bool, string) {
		st := status("kv-4")
		return st != nil && st.Role == "Leader", fmt.Sprintf("%+v", st)
	})

	if _, err := c.ChangeMembers(ctx, ep("kv-4"), []nodeclient.Change{
		{Type: nodeclient.Remove, ID: ids["kv-0"]}, {Type: nodeclient.Remove, ID: ids["kv-1"]},
	}); err != nil {
		t.Fatalf("remove two in one change: %v", err)
	}
	ms, err := c.MemberList(ctx, ep("kv-4"))
	if err != nil || len(ms) != 3 {
		t.Fatalf("members after the removal: %+v, %v", ms, err)
	}
	if st := status("kv-4"); st == nil || len(st.Voters) != 3 || st.Joint {
		t.Fatalf("after the removal: %+v", st)
	}
	// 3→1 in one joint change: leaving the joint configuration needs a
	// majority of the old voters, i.e. a vote of a member being removed.
	if _, err := c.ChangeMembers(ctx, ep("kv-4"), []nodeclient.Change{
		{Type: nodeclient.Remove, ID: ids["kv-2"]}, {Type: nodeclient.Remove, ID: ids["kv-3"]},
	}); err != nil {
		t.Fatalf("remove two of three in one change: %v", err)
	}
	if st := status("kv-4"); st == nil || len(st.Voters) != 1 || st.Joint {
		t.Fatalf("after 3→1: %+v", st)
	}

	// A removed member restarted on its data is fenced, and says so on its
	// status page before it exits. Its INITIAL_CLUSTER lists the current
	// members, as the operator's bootstrap ConfigMap does.
	ps.stop("kv-0")
	ps.start("kv-0", "existing", ps.initialCluster("kv-4"))
	eventually(t, 15*time.Second, "kv-0 fenced", func() (bool, string) {
		reason, err := c.Fenced(ctx, ep("kv-0"))
		return reason != "", fmt.Sprintf("reason %q, err %v", reason, err)
	})
	if _, err := c.Status(ctx, ep("kv-0")); err == nil {
		t.Error("a fenced node answered Status")
	}
}
