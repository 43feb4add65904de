package backup

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// snapServer streams a fixed file in small chunks, like a node.
type snapServer struct {
	pb.UnimplementedMaintenanceServer
	file []byte
}

func (s snapServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	for data := s.file; len(data) > 0; {
		n := min(len(data), 1000)
		if err := stream.Send(&pb.SnapshotResponse{Blob: data[:n], RemainingBytes: uint64(len(data) - n)}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func serve(t *testing.T, file []byte) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterMaintenanceServer(g, snapServer{file: file})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func TestTake(t *testing.T) {
	var buf bytes.Buffer
	want, err := snapfile.Write(&buf, snapfile.Info{AppliedIndex: 77, Revision: 12, ClusterID: 3, MemberID: 4}, testState(t))
	if err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	corrupt := bytes.Clone(good)
	corrupt[200] ^= 1
	for _, tc := range []struct {
		name    string
		file    []byte
		wantErr error
	}{
		{"good", good, nil},
		{"corrupt stream is not stored", corrupt, snapfile.ErrCorrupt},
		{"truncated stream is not stored", good[:len(good)-10], snapfile.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st := store.NewDir(t.TempDir(), "claim")
			info, err := Take(ctx, serve(t, tc.file), st, "ns/c/b.db")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Take = %v, want %v", err, tc.wantErr)
			}
			_, getErr := st.Get(ctx, "ns/c/b.db")
			if tc.wantErr != nil {
				if !errors.Is(getErr, store.ErrNotFound) {
					t.Fatalf("a refused snapshot was stored (%v)", getErr)
				}
				return
			}
			if info != want || getErr != nil {
				t.Fatalf("info %+v (get %v), want %+v", info, getErr, want)
			}
		})
	}
}

// testState is a member's state in node/kv's snapshot format (metadata
// only: snapfile makes an empty key space), what snapfile.Write takes.
func testState(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(&statepb.Snapshot{ClusterId: 3, Members: []*statepb.Member{{Id: 4, Name: "m"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
