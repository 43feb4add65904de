package nodetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestLeaseExpiryByLeader (issue 11): a lease granted through a follower
// is known to every member; a key put with it is deleted on every member
// when the leader expires the lease (a replicated revoke); a put naming
// the revoked lease then gets etcd's ErrLeaseNotFound.
func TestLeaseExpiryByLeader(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	ctx := ctxFor(t, 60*time.Second)
	lead := c.WaitLeader(30 * time.Second)
	follower := c.Member((lead + 1) % 3).Node()
	grant, err := follower.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 2})
	if err != nil || grant.ID == 0 {
		t.Fatalf("grant = %v, %v", grant, err)
	}
	put, err := follower.Put(ctx, &pb.PutRequest{Key: []byte("session"), Value: []byte("x"), Lease: grant.ID})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Members() {
		n := m.Node()
		// The revoke is the write after the put: a member past the put's
		// revision without the key applied it (a lagging member that has
		// not seen the put yet does not count).
		waitUntil(t, 30*time.Second, fmt.Sprintf("member %d applied the revoke", i), func() bool {
			got, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("session"), Serializable: true})
			return err == nil && got.Count == 0 && got.Header.Revision > put.Header.Revision
		})
		ttl, err := n.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: grant.ID})
		if err != nil || ttl.TTL != -1 {
			t.Fatalf("member %d: revoked lease time to live %v, %v; want TTL -1", i, ttl, err)
		}
	}
	if _, err := follower.Put(ctx, &pb.PutRequest{Key: []byte("session"), Value: []byte("x"), Lease: grant.ID}); !errors.Is(err, nodeerr.ErrLeaseNotFound) {
		t.Fatalf("put with the revoked lease: %v, want ErrLeaseNotFound", err)
	}
	c.CheckReplicasAgree(30 * time.Second)
}
