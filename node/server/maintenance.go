package server

import (
	"bytes"
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// snapshotChunkBytes is the payload of one Snapshot stream message (etcd
// sends 32 KiB chunks too).
const snapshotChunkBytes = 32 * 1024

// maintenanceServer is etcd's Maintenance service: Status, Alarm GET (the
// node raises no alarms; etcdctl endpoint health needs the empty list),
// MoveLeader, Snapshot, Hash and HashKV. Defragment and Downgrade stay
// Unimplemented.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp, err := m.s.cfg.Backend.EtcdStatus(ctx)
	return resp, toGRPCError(err)
}

func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.GetAction() != pb.AlarmRequest_GET {
		return nil, status.Error(codes.Unimplemented, "kuberaft: alarms are not supported; only GET (always empty)")
	}
	return &pb.AlarmResponse{Header: m.s.header(ctx)}, nil
}

func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if err := checkMemberID(r.GetTargetID()); err != nil {
		return nil, err
	}
	if err := m.s.cfg.Backend.MoveLeader(ctx, r.GetTargetID()); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(ctx)}, nil
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
		return toGRPCError(err)
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
// HashKV (the member metadata is compared through MemberList instead).
func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	hash, _, err := m.s.cfg.Backend.HashKV(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.HashResponse{Header: m.s.header(ctx), Hash: hash}, nil
}

// HashKV hashes the key space at the current revision. The store keeps no
// history, so only revision 0 (current) or the current revision itself is
// answered; an older one is reported compacted and a newer one future,
// with etcd's errors, so callers that compare members retry at the
// revision this member returns.
func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	hash, rev, err := m.s.cfg.Backend.HashKV(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	switch want := r.GetRevision(); {
	case want != 0 && want < rev:
		return nil, rpctypes.ErrGRPCCompacted
	case want > rev:
		return nil, rpctypes.ErrGRPCFutureRev
	}
	return &pb.HashKVResponse{Header: m.s.header(ctx), Hash: hash, CompactRevision: rev, HashRevision: rev}, nil
}
