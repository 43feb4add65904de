package server

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// leaseServer is etcd's Lease service. Grant and Revoke are replicated;
// KeepAlive renews on the leader (a follower's Backend forwards the renewal
// there; if it cannot, the stream ends with etcd's "not leader" and clientv3
// retries); TimeToLive and Leases answer from this member.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	resp, err := l.s.cfg.Backend.LeaseGrant(ctx, r)
	return resp, ToGRPCError(err)
}

func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := l.s.cfg.Backend.LeaseRevoke(ctx, r)
	return resp, ToGRPCError(err)
}

func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := l.s.cfg.Backend.LeaseTimeToLive(ctx, r)
	return resp, ToGRPCError(err)
}

func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	resp, err := l.s.cfg.Backend.LeaseLeases(ctx)
	return resp, ToGRPCError(err)
}

// LeaseKeepAlive renews each requested lease and answers its TTL, or TTL 0
// for an unknown one (etcd's answer, which clientv3 reads as "lease gone").
func (l *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ttl, err := l.s.cfg.Backend.LeaseRenew(ctx, req.ID)
		switch {
		case errors.Is(err, nodeerr.ErrLeaseNotFound):
			ttl = 0
		case errors.Is(err, nodeerr.ErrNotLeader):
			return rpctypes.ErrGRPCNotLeader
		case err != nil:
			return ToGRPCError(err)
		}
		h := l.s.header(ctx)
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: h, ID: req.ID, TTL: ttl}); err != nil {
			return err
		}
	}
}
