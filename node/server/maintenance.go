package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maintenanceServer is etcd's Maintenance service: Status, Alarm (GET, and
// ACTIVATE/DEACTIVATE: the NOSPACE alarm the space quota raises is cleared
// with DEACTIVATE, as `etcdctl alarm disarm` does), Defragment and
// MoveLeader. Hash, HashKV, Snapshot and Downgrade stay Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp, err := m.s.cfg.Backend.EtcdStatus(ctx)
	return resp, ToGRPCError(err)
}

func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	switch r.GetAction() {
	case pb.AlarmRequest_GET, pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "kuberaft: unknown alarm action %v", r.GetAction())
	}
	resp, err := m.s.cfg.Backend.Alarm(ctx, r)
	return resp, ToGRPCError(err)
}

func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if err := checkMemberID(r.GetTargetID()); err != nil {
		return nil, ToGRPCError(err)
	}
	if err := m.s.cfg.Backend.MoveLeader(ctx, r.GetTargetID()); err != nil {
		return nil, ToGRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(ctx)}, nil
}

func (m *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := m.s.cfg.Backend.Defragment(ctx); err != nil {
		return nil, ToGRPCError(err)
	}
	return &pb.DefragmentResponse{Header: m.s.header(ctx)}, nil
}
