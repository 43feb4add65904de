package server

import (
	"context"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// membershipServer is our joint-consensus Membership service.
type membershipServer struct {
	nodepb.UnimplementedMembershipServer
	s *Server
}

func (m *membershipServer) ChangeMembers(ctx context.Context, r *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	if err := checkChangeMembers(r); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := m.s.cfg.Backend.ChangeMembers(ctx, r)
	return resp, ToGRPCError(err)
}

func (m *membershipServer) Status(ctx context.Context, _ *nodepb.StatusRequest) (*nodepb.StatusResponse, error) {
	resp, err := m.s.cfg.Backend.Status(ctx)
	return resp, ToGRPCError(err)
}

// counterServer is the Append / IncrementAndGet service.
type counterServer struct {
	nodepb.UnimplementedCounterServer
	s *Server
}

func (c *counterServer) Append(ctx context.Context, r *nodepb.AppendRequest) (*nodepb.AppendResponse, error) {
	if err := checkSize(r, c.s.cfg.Limits.MaxRequestBytes); err != nil {
		return nil, ToGRPCError(err)
	}
	if err := checkKey(r.GetKey()); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := c.s.cfg.Backend.Append(ctx, r)
	return resp, ToGRPCError(err)
}

func (c *counterServer) IncrementAndGet(ctx context.Context, r *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	if err := checkKey(r.GetKey()); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := c.s.cfg.Backend.IncrementAndGet(ctx, r)
	return resp, ToGRPCError(err)
}
