package server

import (
	"bytes"
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// snapshotChunkBytes is the payload of one Snapshot stream message (etcd
// sends 32 KiB chunks too).
const snapshotChunkBytes = 32 * 1024

// maintenanceServer is etcd's Maintenance service: Status, Alarm (GET, and
// ACTIVATE/DEACTIVATE: the NOSPACE alarm the space quota raises is cleared
// with DEACTIVATE, as `etcdctl alarm disarm` does), Defragment, MoveLeader,
// Snapshot, Hash and HashKV. Downgrade stays Unimplemented.
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

// Snapshot streams a snapfile in chunks; its last 32 bytes are the SHA-256
// trailer etcd clients look for, so `etcdctl snapshot save` works as
// against etcd. The file is built in memory first (the state machine is
// in memory anyway) so a failure is reported before any byte is sent and
// every message carries the exact RemainingBytes.
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	ctx := stream.Context()
	var buf bytes.Buffer
	if _, err := m.s.cfg.Backend.Snapshot(ctx, &buf); err != nil {
		return ToGRPCError(err)
	}
	var version string
	if st, err := m.s.cfg.Backend.Status(ctx); err == nil {
		version = st.GetVersion()
	}
	data := buf.Bytes()
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), snapshotChunkBytes)
		resp := &pb.SnapshotResponse{Blob: data[:n], RemainingBytes: uint64(len(data) - n)}
		if first {
			resp.Header, resp.Version = m.s.header(ctx), version
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Hash is etcd's whole-backend hash; here it is the key-space hash of
// HashKV at the current revision (etcd itself calls its whole-backend
// hash a test aid; member metadata is compared through MemberList).
func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	h, _, err := m.s.cfg.Backend.HashKV(ctx, 0)
	if err != nil {
		return nil, ToGRPCError(err)
	}
	return &pb.HashResponse{Header: m.s.header(ctx), Hash: h.Hash}, nil
}

// HashKV is etcd's: the mvcc hash of every key revision up to the
// requested one (0: current) since the last compaction, so members that
// applied the same log agree at any revision both still hold; an older
// revision is reported compacted and a newer one future, with etcd's
// errors.
func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, _, err := m.s.cfg.Backend.HashKV(ctx, r.GetRevision())
	if err != nil {
		return nil, ToGRPCError(err)
	}
	return &pb.HashKVResponse{Header: m.s.header(ctx), Hash: h.Hash, CompactRevision: h.CompactRevision, HashRevision: h.Revision}, nil
}
