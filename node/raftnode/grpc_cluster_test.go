package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// grpcMember is one node of a cluster over the real gRPC peer transport.
type grpcMember struct {
	name, url, dir string
	lis            net.Listener
	node           *raftnode.Node
}

func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l, "http://" + l.Addr().String()
}

func startGRPCMember(t *testing.T, m *grpcMember, initial []raftnode.Peer, state string, reg *prometheus.Registry) error {
	t.Helper()
	if m.lis == nil {
		l, err := net.Listen("tcp", m.url[len("http://"):])
		if err != nil {
			return err
		}
		m.lis = l
	}
	cfg := raftnode.Config{
		Name: m.name, DataDir: m.dir, InitialCluster: initial, InitialClusterState: state,
		InitialClusterToken: "grpc-test", AdvertisePeerURLs: []string{m.url}, PeerListener: m.lis,
		HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		SnapshotCount: 30, SnapshotCatchUpEntries: 5, Registry: reg,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.String("slot", m.name)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := raftnode.Start(ctx, cfg)
	m.lis = nil // owned by the transport now (closed on stop)
	if err != nil {
		return err
	}
	m.node = n
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stopMember(t *testing.T, m *grpcMember) {
	t.Helper()
	if m.node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.node.Stop(ctx); err != nil {
		t.Fatalf("stop %s: %v", m.name, err)
	}
	m.node = nil
}

// TestClusterOverGRPC runs three nodes over the real peer transport on
// loopback: writes, a learner that joins and catches up by snapshot, a
// graceful leader stop that hands leadership over, and a restart.
func TestClusterOverGRPC(t *testing.T) {
	var members []*grpcMember
	var initial []raftnode.Peer
	for i := range 3 {
		l, u := listen(t)
		m := &grpcMember{name: fmt.Sprintf("g%d", i), url: u, dir: t.TempDir(), lis: l}
		members = append(members, m)
		initial = append(initial, raftnode.Peer{Name: m.name, PeerURLs: []string{u}})
	}
	reg := prometheus.NewRegistry()
	for i, m := range members {
		r := (*prometheus.Registry)(nil)
		if i == 0 {
			r = reg
		}
		if err := startGRPCMember(t, m, initial, raftnode.ClusterStateNew, r); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range members {
			stopMember(t, m)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(n *raftnode.Node, k, v string) {
		t.Helper()
		waitFor(t, "put "+k, func() bool {
			_, err := n.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: []byte(v)})
			return err == nil
		})
	}
	for i := range 100 {
		put(members[i%3].node, fmt.Sprintf("k%03d", i), "v")
	}

	// A learner joins after the logs were compacted: it needs a snapshot.
	l, u := listen(t)
	learner := &grpcMember{name: "g3", url: u, dir: t.TempDir(), lis: l}
	members = append(members, learner)
	add, err := members[1].node.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{u}, IsLearner: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := startGRPCMember(t, learner, initial, raftnode.ClusterStateExisting, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the learner to catch up", func() bool {
		resp, err := learner.node.Range(ctx, &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Serializable: true, CountOnly: true})
		return err == nil && resp.Count == 100
	})
	if first, _ := learner.node.LogRange(); first <= 2 {
		t.Fatalf("learner log starts at %d: it did not install a snapshot", first)
	}
	if add.Member.ID != learner.node.ID() {
		t.Fatalf("learner runs as %x, was added as %x", learner.node.ID(), add.Member.ID)
	}

	// Graceful stop of the leader hands leadership to another voter.
	var lead *grpcMember
	waitFor(t, "a leader", func() bool {
		for _, m := range members[:3] {
			if m.node.Leader() == m.node.ID() {
				lead = m
				return true
			}
		}
		return false
	})
	oldID := lead.node.ID()
	stopMember(t, lead)
	var other *grpcMember
	for _, m := range members[:3] {
		if m != lead {
			other = m
		}
	}
	waitFor(t, "a new leader", func() bool { l := other.node.Leader(); return l != 0 && l != oldID })
	put(other.node, "after", "stop")

	// The stopped member restarts on its data and catches up.
	if err := startGRPCMember(t, lead, initial, raftnode.ClusterStateNew, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted member to catch up", func() bool {
		resp, err := lead.node.Range(ctx, &pb.RangeRequest{Key: []byte("after"), Serializable: true})
		return err == nil && len(resp.Kvs) == 1
	})
	// The first member's metrics are registered and moving.
	families, err := reg.Gather()
	if err != nil || len(families) == 0 {
		t.Fatalf("gather: %d families, %v", len(families), err)
	}
	// Learners refuse nothing we serve, but MoveLeader to one is refused.
	var cur *grpcMember
	waitFor(t, "a leader", func() bool {
		for _, m := range members[:3] {
			if m.node != nil && m.node.Leader() == m.node.ID() {
				cur = m
				return true
			}
		}
		return false
	})
	if err := cur.node.MoveLeader(ctx, learner.node.ID()); !errors.Is(err, nodeerr.ErrBadTargetLeader) {
		t.Fatalf("move leader to a learner: %v", err)
	}
}
