package kv

import (
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func leaseCmd(t *testing.T, m proto.Message) *statepb.Command {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	switch m.(type) {
	case *pb.LeaseGrantRequest:
		return &statepb.Command{Op: &statepb.Command_LeaseGrant{LeaseGrant: b}}
	case *pb.LeaseRevokeRequest:
		return &statepb.Command{Op: &statepb.Command_LeaseRevoke{LeaseRevoke: b}}
	}
	return &statepb.Command{Op: &statepb.Command_LeaseCheckpoint{LeaseCheckpoint: b}}
}

// Leases as etcd's: a grant is needed before a put names the lease; a
// revoke deletes the attached keys in one revision; leases survive a
// snapshot with their keys attached.
func TestLeaseGrantPutRevoke(t *testing.T) {
	s := newStore(t)
	if r := s.Apply(leaseCmd(t, &pb.LeaseGrantRequest{ID: 7, TTL: 60})); r.Err != nil || r.Resp.(*pb.LeaseGrantResponse).TTL != 60 {
		t.Fatalf("grant = %v, %v", r.Resp, r.Err)
	}
	if r := s.Apply(leaseCmd(t, &pb.LeaseGrantRequest{ID: 7, TTL: 60})); !errors.Is(r.Err, nodeerr.ErrLeaseExists) {
		t.Fatalf("second grant of 7: %v, want ErrLeaseExists", r.Err)
	}
	if _, err := s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("1"), Lease: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(&pb.PutRequest{Key: []byte("b"), Value: []byte("1"), Lease: 7}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "c", "no lease")
	ttl, err := s.LeaseTimeToLive(&pb.LeaseTimeToLiveRequest{ID: 7, Keys: true})
	if err != nil || ttl.GrantedTTL != 60 || len(ttl.Keys) != 2 {
		t.Fatalf("time to live = %v, %v; want granted 60 with 2 keys", ttl, err)
	}
	if unknown, _ := s.LeaseTimeToLive(&pb.LeaseTimeToLiveRequest{ID: 8}); unknown.TTL != -1 {
		t.Fatalf("unknown lease TTL %d, want -1 (etcd)", unknown.TTL)
	}
	restored := restoredCopy(t, s)
	for name, st := range map[string]*Store{"original": s, "restored": restored} {
		rev := st.Revision()
		r := st.Apply(leaseCmd(t, &pb.LeaseRevokeRequest{ID: 7}))
		if r.Err != nil || st.Revision() != rev+1 {
			t.Fatalf("%s: revoke = %v at revision %d, want one new revision after %d", name, r.Err, st.Revision(), rev)
		}
		got, err := st.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
		if err != nil || got.Count != 1 || string(got.Kvs[0].Key) != "c" {
			t.Fatalf("%s: after revoke %v, %v; want only c", name, got, err)
		}
		if r := st.Apply(leaseCmd(t, &pb.LeaseRevokeRequest{ID: 7})); !errors.Is(r.Err, nodeerr.ErrLeaseNotFound) {
			t.Fatalf("%s: second revoke: %v, want ErrLeaseNotFound", name, r.Err)
		}
	}
	if !sameState(t, s, restored) {
		t.Fatal("replicas diverged")
	}
}

// Only a promoted lessor (the leader's) expires leases and renews them.
func TestLeaseExpiryOnlyWhenPromoted(t *testing.T) {
	s := newStore(t)
	if r := s.Apply(leaseCmd(t, &pb.LeaseGrantRequest{ID: 1, TTL: minLeaseTTL})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := s.LeaseRenew(1); !errors.Is(err, nodeerr.ErrNotLeader) {
		t.Fatalf("renew on a follower: %v, want ErrNotLeader", err)
	}
	s.PromoteLeases(0)
	if ttl, err := s.LeaseRenew(1); err != nil || ttl != minLeaseTTL {
		t.Fatalf("renew on the leader = %d, %v", ttl, err)
	}
	select {
	case expired := <-s.ExpiredLeases():
		if len(expired) != 1 || expired[0].ID != 1 {
			t.Fatalf("expired %v, want lease 1", expired)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a promoted lessor did not report the expired lease")
	}
}
