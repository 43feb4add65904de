package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterServer is etcd's Cluster service. MemberUpdate stays Unimplemented:
// peer URLs are fixed for a member's lifetime (a new address means a new
// member with a new raft ID).
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	resp, err := c.s.cfg.Backend.MemberList(ctx, r)
	return resp, ToGRPCError(err)
}

func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := checkPeerURLs(r.GetPeerURLs()); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := c.s.cfg.Backend.MemberAdd(ctx, r)
	return resp, ToGRPCError(err)
}

func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if err := checkMemberID(r.GetID()); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := c.s.cfg.Backend.MemberRemove(ctx, r)
	return resp, ToGRPCError(err)
}

func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if err := checkMemberID(r.GetID()); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := c.s.cfg.Backend.MemberPromote(ctx, r)
	return resp, ToGRPCError(err)
}
