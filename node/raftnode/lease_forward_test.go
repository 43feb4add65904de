package raftnode_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/kuberaft/kuberaft/node/raftnode"
	"github.com/kuberaft/kuberaft/node/server"
)

// A follower forwards a lease renewal to the leader's client port (etcd's
// followers forward keepalives too), so a client connected to any member
// keeps its lease alive.
func TestLeaseRenewForwardedToLeader(t *testing.T) {
	type member struct {
		name, peerURL, clientURL string
		node                     *raftnode.Node
	}
	var members []*member
	var initial []raftnode.Peer
	peerLis, clientLis := map[string]net.Listener{}, map[string]net.Listener{}
	for i := range 3 {
		pl, pu := listen(t)
		cl, cu := listen(t)
		m := &member{name: fmt.Sprintf("l%d", i), peerURL: pu, clientURL: cu}
		peerLis[m.name], clientLis[m.name] = pl, cl
		members = append(members, m)
		initial = append(initial, raftnode.Peer{Name: m.name, PeerURLs: []string{pu}})
	}
	for _, m := range members {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := raftnode.Start(ctx, raftnode.Config{
			Name: m.name, DataDir: t.TempDir(), InitialCluster: initial, InitialClusterState: raftnode.ClusterStateNew,
			InitialClusterToken: "lease-test", AdvertisePeerURLs: []string{m.peerURL}, AdvertiseClientURLs: []string{m.clientURL},
			PeerListener:      peerLis[m.name],
			HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.String("slot", m.name)),
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		m.node = n
		g := server.New(server.Config{Backend: n}).GRPCServer()
		lis := clientLis[m.name]
		go func() { _ = g.Serve(lis) }()
		t.Cleanup(func() {
			g.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.Stop(ctx); err != nil {
				t.Errorf("stop %s: %v", m.name, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var grant *pb.LeaseGrantResponse
	waitFor(t, "a lease grant", func() bool {
		var err error
		grant, err = members[0].node.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 30})
		return err == nil
	})
	// Every follower renews through the leader once the leader published
	// its client URL.
	for _, m := range members {
		if m.node.Leader() == m.node.ID() {
			continue
		}
		waitFor(t, m.name+" renewing through the leader", func() bool {
			ttl, err := m.node.LeaseRenew(ctx, grant.ID)
			return err == nil && ttl == 30
		})
	}
}
