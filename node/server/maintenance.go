package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maintenanceServer is etcd's Maintenance service: Status, Alarm GET (the
// node raises no alarms; etcdctl endpoint health needs the empty list) and
// MoveLeader. Defragment, Hash, HashKV, Snapshot and Downgrade stay
// Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp, err := m.s.cfg.Backend.EtcdStatus(ctx)
	return resp, ToGRPCError(err)
}

func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.GetAction() != pb.AlarmRequest_GET {
		return nil, status.Error(codes.Unimplemented, "kuberaft: alarms are not supported; only GET (always empty)")
	}
	return &pb.AlarmResponse{Header: m.s.header(ctx)}, nil
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
