package kv

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/lease"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Leases are etcd's lessor (engine.go): grants, revokes and checkpoints are
// replicated commands applied here; expiry is decided by the primary
// lessor, on the leader only (Promote/Demote follow leadership), and turned
// into a replicated revoke by the raft driver. Followers hold every lease
// "forever", so their state depends only on the log.

func (s *Store) leaseGrant(req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	l, err := s.eng.lessor.Grant(lease.LeaseID(req.ID), req.TTL)
	if err != nil {
		return nil, translateLease(err)
	}
	return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: s.eng.kv.Rev()}, ID: int64(l.ID), TTL: l.TTL()}, nil
}

// leaseRevoke deletes the lease and its keys in one write (one revision if
// any key was attached).
func (s *Store) leaseRevoke(req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	if err := s.eng.lessor.Revoke(lease.LeaseID(req.ID)); err != nil {
		return nil, translateLease(err)
	}
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: s.eng.kv.Rev()}}, nil
}

func (s *Store) leaseCheckpoint(req *pb.LeaseCheckpointRequest) (*pb.LeaseCheckpointResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	for _, cp := range req.Checkpoints {
		if err := s.eng.lessor.Checkpoint(lease.LeaseID(cp.ID), cp.Remaining_TTL); err != nil {
			return nil, translateLease(err)
		}
	}
	return &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: s.eng.kv.Rev()}}, nil
}

// translateLease maps the lessor's errors to etcd's gRPC-level sentinels.
func translateLease(err error) error {
	switch {
	case err == lease.ErrLeaseExists:
		return nodeerr.ErrLeaseExists
	case err == lease.ErrLeaseTTLTooLarge:
		return nodeerr.ErrLeaseTTLTooLarge
	case err == lease.ErrNotPrimary:
		return nodeerr.ErrNotLeader
	}
	return translate(err)
}

// LeaseRenew extends a lease on the primary lessor (the leader; not
// replicated, as in etcd) and returns its TTL.
func (s *Store) LeaseRenew(id int64) (int64, error) {
	le, err := s.lessor()
	if err != nil {
		return 0, err
	}
	ttl, err := le.Renew(lease.LeaseID(id))
	return ttl, translateLease(err)
}

// LeaseTimeToLive answers etcd's LeaseTimeToLive from this member's
// lessor; remaining TTLs are only meaningful on the leader.
func (s *Store) LeaseTimeToLive(req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	le, err := s.lessor()
	if err != nil {
		return nil, err
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: &pb.ResponseHeader{Revision: s.Revision()}, ID: req.ID, TTL: -1}
	l := le.Lookup(lease.LeaseID(req.ID))
	if l == nil {
		return resp, nil // etcd: TTL -1 for an unknown lease
	}
	resp.TTL, resp.GrantedTTL = int64(l.Remaining().Seconds()), l.TTL()
	if req.Keys {
		for _, item := range l.Keys() {
			resp.Keys = append(resp.Keys, []byte(item))
		}
	}
	return resp, nil
}

// Leases lists the leases.
func (s *Store) Leases() (*pb.LeaseLeasesResponse, error) {
	le, err := s.lessor()
	if err != nil {
		return nil, err
	}
	resp := &pb.LeaseLeasesResponse{Header: &pb.ResponseHeader{Revision: s.Revision()}}
	for _, l := range le.Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: int64(l.ID)})
	}
	return resp, nil
}

// PromoteLeases makes this member's lessor the primary (it leads): leases
// start expiring, each extended by extend so none expires because of the
// election (etcd's Promote).
func (s *Store) PromoteLeases(extend time.Duration) {
	if le, err := s.lessor(); err == nil {
		le.Promote(extend)
	}
}

// DemoteLeases stops expiry here (this member no longer leads).
func (s *Store) DemoteLeases() {
	if le, err := s.lessor(); err == nil {
		le.Demote()
	}
}

// ExpiredLeases delivers the leases the primary lessor found expired; the
// leader proposes their revocation.
func (s *Store) ExpiredLeases() <-chan []*lease.Lease {
	le, err := s.lessor()
	if err != nil {
		return nil
	}
	return le.ExpiredLeasesC()
}

// SetLeaseCheckpointer installs what the primary lessor calls to replicate
// remaining TTLs (etcd's lease checkpointing).
func (s *Store) SetLeaseCheckpointer(cp func(context.Context, *pb.LeaseCheckpointRequest) error) {
	if le, err := s.lessor(); err == nil {
		le.SetCheckpointer(cp)
	}
}

func (s *Store) lessor() (lease.Lessor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.eng.lessor, nil
}
