package server

import (
	"bytes"
	"context"
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// TestSnapshotStreamsAWholeFile checks that clientv3's Snapshot (what
// etcdctl snapshot save uses) receives the file byte for byte, with the
// trailer etcd clients detect, and that RemainingBytes counts down to 0.
func TestSnapshotStreamsAWholeFile(t *testing.T) {
	conn, _, _ := startServer(t)
	ctx := testCtx(t)
	stream, err := pb.NewMaintenanceClient(conn).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	var msgs int
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		msgs++
		got.Write(resp.Blob)
		if msgs == 1 && resp.Header.GetClusterId() == 0 {
			t.Errorf("first message has no header: %v", resp.Header)
		}
		if resp.RemainingBytes == 0 {
			break
		}
	}
	if msgs < 2 {
		t.Errorf("snapshot came in %d message(s); want it chunked", msgs)
	}
	if got.Len()%snapfile.PageSize != snapfile.TrailerSize {
		t.Fatalf("size %d: etcdctl would not find the sha256 trailer", got.Len())
	}
	info, state, err := snapfile.Read(got.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	snap := &statepb.Snapshot{}
	if err := proto.Unmarshal(state, snap); err != nil {
		t.Fatal(err)
	}
	if info.AppliedIndex != 10 || snap.ClusterId != 7 || len(snap.Members) != 1 || len(snap.Backend) == 0 {
		t.Fatalf("read back index %d, cluster %d, %d members, %d backend bytes", info.AppliedIndex, snap.ClusterId, len(snap.Members), len(snap.Backend))
	}
}

func TestSnapshotBackendErrorBeforeAnyByte(t *testing.T) {
	conn, fake, _ := startServer(t)
	fake.setErr(context.DeadlineExceeded)
	stream, err := pb.NewMaintenanceClient(conn).Snapshot(testCtx(t), &pb.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != status.Code(status.FromContextError(context.DeadlineExceeded).Err()) {
		t.Fatalf("Recv = %v, want DeadlineExceeded", err)
	}
}

func TestHashKVRevisions(t *testing.T) {
	conn, _, _ := startServer(t)
	ctx := testCtx(t)
	maint := pb.NewMaintenanceClient(conn)
	for _, tc := range []struct {
		name    string
		rev     int64
		wantRev int64
		wantErr error
	}{
		{"current", 0, 5, nil},
		{"explicit current", 5, 5, nil},
		{"past, still held", 4, 4, nil},
		{"compacted", 2, 0, rpctypes.ErrGRPCCompacted},
		{"future", 6, 0, rpctypes.ErrGRPCFutureRev},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := maint.HashKV(ctx, &pb.HashKVRequest{Revision: tc.rev})
			if tc.wantErr != nil {
				if !errors.Is(rpctypes.Error(err), rpctypes.Error(tc.wantErr)) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || resp.Hash != 0xfeed || resp.HashRevision != tc.wantRev || resp.CompactRevision != 3 {
				t.Fatalf("HashKV = %v, %v", resp, err)
			}
		})
	}
	h, err := maint.Hash(ctx, &pb.HashRequest{})
	if err != nil || h.Hash != 0xfeed {
		t.Fatalf("Hash = %v, %v", h, err)
	}
}
