package server

import (
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func TestLeaseService(t *testing.T) {
	conn, fake, _ := startServer(t)
	ctx := testCtx(t)
	c := pb.NewLeaseClient(conn)
	if g, err := c.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 10}); err != nil || g.ID != 42 || g.TTL != 10 {
		t.Fatalf("grant = %v, %v", g, err)
	}
	if ttl, err := c.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 42}); err != nil || ttl.GrantedTTL != 10 {
		t.Fatalf("time to live = %v, %v", ttl, err)
	}
	if ls, err := c.LeaseLeases(ctx, &pb.LeaseLeasesRequest{}); err != nil || len(ls.Leases) != 1 {
		t.Fatalf("leases = %v, %v", ls, err)
	}
	ka, err := c.LeaseKeepAlive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, ttl int64 }{{42, 10}, {7, 0}} { // unknown lease: TTL 0, as etcd
		if err := ka.Send(&pb.LeaseKeepAliveRequest{ID: tc.id}); err != nil {
			t.Fatal(err)
		}
		resp, err := ka.Recv()
		if err != nil || resp.ID != tc.id || resp.TTL != tc.ttl {
			t.Fatalf("keepalive %d = %v, %v; want TTL %d", tc.id, resp, err, tc.ttl)
		}
	}
	if err := ka.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 42}); err != nil {
		t.Fatal(err)
	}
	want := []string{"LeaseGrant", "LeaseTimeToLive", "LeaseLeases", "LeaseRenew", "LeaseRenew", "LeaseRevoke"}
	if got := fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("backend calls = %v, want %v", got, want)
	}
	// On a follower, keepalive fails with etcd's "not leader"; errors of
	// the replicated calls keep etcd's codes.
	fake.setErr(nodeerr.ErrNotLeader)
	ka, err = c.LeaseKeepAlive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ka.Send(&pb.LeaseKeepAliveRequest{ID: 42}); err != nil {
		t.Fatal(err)
	}
	if _, err := ka.Recv(); status.Code(err) != codes.FailedPrecondition || rpctypes.Error(err) != rpctypes.ErrNotLeader {
		t.Fatalf("keepalive on a follower: %v, want ErrNotLeader", err)
	}
	fake.setErr(nodeerr.ErrLeaseNotFound)
	if _, err := c.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 1}); rpctypes.Error(err) != rpctypes.ErrLeaseNotFound {
		t.Fatalf("revoke unknown: %v, want ErrLeaseNotFound", err)
	}
}
