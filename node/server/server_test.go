package server

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/errinfo"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/limits"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

const testMaxRequestBytes = 4096

// startServer serves a fake Backend on 127.0.0.1 and returns a connection.
func startServer(t *testing.T) (*grpc.ClientConn, *fakeBackend, *Server) {
	t.Helper()
	fake := &fakeBackend{}
	srv := New(Config{Backend: fake, Limits: limits.Limits{MaxRequestBytes: testMaxRequestBytes, MaxTxnOps: 4}})
	g := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, fake, srv
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestBadInputIsRejectedBeforeTheBackend checks each validation: the right
// code and etcd message, and nothing reaches the Backend (nothing written).
func TestBadInputIsRejectedBeforeTheBackend(t *testing.T) {
	conn, fake, _ := startServer(t)
	kv := pb.NewKVClient(conn)
	cluster := pb.NewClusterClient(conn)
	maint := pb.NewMaintenanceClient(conn)
	members := nodepb.NewMembershipClient(conn)
	counter := nodepb.NewCounterClient(conn)
	big := make([]byte, testMaxRequestBytes+1)
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	tests := []struct {
		name    string
		call    func(ctx context.Context) error
		want    codes.Code
		wantMsg string
	}{
		{"range empty key", func(ctx context.Context) error { _, err := kv.Range(ctx, &pb.RangeRequest{}); return err },
			codes.InvalidArgument, "etcdserver: key is not provided"},
		{"range bad sort", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), SortOrder: 9})
			return err
		}, codes.InvalidArgument, "etcdserver: invalid sort option"},
		{"put empty key", func(ctx context.Context) error { _, err := kv.Put(ctx, &pb.PutRequest{Value: []byte("v")}); return err },
			codes.InvalidArgument, "etcdserver: key is not provided"},
		{"put too large", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: big})
			return err
		},
			codes.InvalidArgument, "etcdserver: request is too large"},
		{"put ignore value with value", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true})
			return err
		}, codes.InvalidArgument, "etcdserver: value is provided"},
		{"delete empty key", func(ctx context.Context) error { _, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{}); return err },
			codes.InvalidArgument, "etcdserver: key is not provided"},
		{"txn too many ops", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("b"), put("c"), put("d"), put("e")}})
			return err
		}, codes.InvalidArgument, "etcdserver: too many operations in txn request"},
		{"put ignore lease with lease", func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Lease: 5, IgnoreLease: true})
			return err
		}, codes.InvalidArgument, "etcdserver: lease is provided"},
		{"txn put twice", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("a")}})
			return err
		}, codes.InvalidArgument, "etcdserver: duplicate key given in txn request"},
		{"txn put in deleted range", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Failure: []*pb.RequestOp{put("b"),
				{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}}}})
			return err
		}, codes.InvalidArgument, "etcdserver: duplicate key given in txn request"},
		{"txn nested put twice", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"),
				{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Failure: []*pb.RequestOp{put("a")}}}}}})
			return err
		}, codes.InvalidArgument, "etcdserver: duplicate key given in txn request"},
		{"txn nested lease with ignore_lease", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{
					{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("x"), Lease: 1, IgnoreLease: true}}}}}}}}})
			return err
		}, codes.InvalidArgument, "etcdserver: lease is provided"},
		{"txn empty compare key", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{{}}})
			return err
		}, codes.InvalidArgument, "etcdserver: key is not provided"},
		{"txn empty put key", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Failure: []*pb.RequestOp{put("")}})
			return err
		}, codes.InvalidArgument, "etcdserver: key is not provided"},
		{"txn empty op", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{}}})
			return err
		}, codes.InvalidArgument, "etcdserver: key not found"},
		{"txn too large", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Value: big}}}}})
			return err
		}, codes.InvalidArgument, "etcdserver: request is too large"},
		{"member add no urls", func(ctx context.Context) error { _, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{}); return err },
			codes.InvalidArgument, "etcdserver: given member URLs are invalid"},
		{"member add malformed url", func(ctx context.Context) error {
			_, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"10.0.0.1:2380"}})
			return err
		}, codes.InvalidArgument, "etcdserver: given member URLs are invalid"},
		{"member add url with path", func(ctx context.Context) error {
			_, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"http://10.0.0.1:2380/x"}})
			return err
		}, codes.InvalidArgument, "etcdserver: given member URLs are invalid"},
		{"member remove id 0", func(ctx context.Context) error {
			_, err := cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{})
			return err
		},
			codes.NotFound, "etcdserver: member not found"},
		{"member promote id 0", func(ctx context.Context) error {
			_, err := cluster.MemberPromote(ctx, &pb.MemberPromoteRequest{})
			return err
		},
			codes.NotFound, "etcdserver: member not found"},
		{"move leader to 0", func(ctx context.Context) error { _, err := maint.MoveLeader(ctx, &pb.MoveLeaderRequest{}); return err },
			codes.NotFound, "etcdserver: member not found"},
		{"change members empty", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{})
			return err
		}, codes.InvalidArgument, "kuberaft: invalid membership change: no changes given"},
		{"change members add with id", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{
				{Type: nodepb.MemberChange_ADD_LEARNER, Id: 3, Name: "c", PeerUrls: []string{"http://127.0.0.1:2380"}}}})
			return err
		}, codes.InvalidArgument, "kuberaft: invalid membership change: change 0: id must be 0: the cluster allocates it"},
		{"change members bad url", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{
				{Type: nodepb.MemberChange_ADD_LEARNER, Name: "c", PeerUrls: []string{"ftp://x:1"}}}})
			return err
		}, codes.InvalidArgument, ""},
		{"change members remove without id", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{{Type: nodepb.MemberChange_REMOVE}}})
			return err
		}, codes.InvalidArgument, "kuberaft: invalid membership change: change 0: id is required"},
		{"change members same id twice", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{
				{Type: nodepb.MemberChange_REMOVE, Id: 2}, {Type: nodepb.MemberChange_PROMOTE, Id: 2}}})
			return err
		}, codes.InvalidArgument, "kuberaft: invalid membership change: change 1: member 2 appears twice"},
		{"change members unspecified", func(ctx context.Context) error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{{Id: 2}}})
			return err
		}, codes.InvalidArgument, ""},
		{"append empty key", func(ctx context.Context) error { _, err := counter.Append(ctx, &nodepb.AppendRequest{}); return err },
			codes.InvalidArgument, "etcdserver: key is not provided"},
		{"append too large", func(ctx context.Context) error {
			_, err := counter.Append(ctx, &nodepb.AppendRequest{Key: []byte("k"), Suffix: big})
			return err
		}, codes.InvalidArgument, "etcdserver: request is too large"},
		{"increment empty key", func(ctx context.Context) error {
			_, err := counter.IncrementAndGet(ctx, &nodepb.IncrementRequest{Delta: 1})
			return err
		}, codes.InvalidArgument, "etcdserver: key is not provided"},
		{"bad seq metadata", func(ctx context.Context) error {
			ctx = metadata.AppendToOutgoingContext(ctx, clientseq.MetadataClientID, "c1", clientseq.MetadataSeq, "x")
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k")})
			return err
		}, codes.InvalidArgument, `kuberaft: metadata kuberaft-seq must be a decimal uint64: "x"`},
		{"client id without seq", func(ctx context.Context) error {
			ctx = metadata.AppendToOutgoingContext(ctx, clientseq.MetadataClientID, "c1")
			_, err := counter.Append(ctx, &nodepb.AppendRequest{Key: []byte("k")})
			return err
		}, codes.InvalidArgument, ""},
	}
	interceptorCases := map[string]bool{"bad seq metadata": true, "client id without seq": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(testCtx(t))
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.want)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
			// Every refusal of the validation carries its reason; only the
			// interceptor's metadata errors come before it.
			if errinfo.ReasonOf(err) == nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED && !interceptorCases[tt.name] {
				t.Errorf("no ErrorReason in %v", err)
			}
		})
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("bad input reached the backend: %v", calls)
	}
}

func TestGoodRequestsReachTheBackend(t *testing.T) {
	conn, fake, _ := startServer(t)
	ctx := testCtx(t)
	kv := pb.NewKVClient(conn)
	cluster := pb.NewClusterClient(conn)
	maint := pb.NewMaintenanceClient(conn)
	members := nodepb.NewMembershipClient(conn)
	counter := nodepb.NewCounterClient(conn)
	calls := []struct {
		name string
		call func() error
	}{
		{"Range", func() error { _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a")}); return err }},
		{"Put", func() error { _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("a"), Value: []byte("b")}); return err }},
		{"DeleteRange", func() error { _, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("a")}); return err }},
		{"Txn", func() error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("a")}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a")}}}}})
			return err
		}},
		{"Append", func() error { _, err := counter.Append(ctx, &nodepb.AppendRequest{Key: []byte("a")}); return err }},
		{"IncrementAndGet", func() error {
			_, err := counter.IncrementAndGet(ctx, &nodepb.IncrementRequest{Key: []byte("a")})
			return err
		}},
		{"MemberList", func() error { _, err := cluster.MemberList(ctx, &pb.MemberListRequest{}); return err }},
		{"MemberAdd", func() error {
			_, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:2380"}, IsLearner: true})
			return err
		}},
		{"MemberRemove", func() error { _, err := cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: 2}); return err }},
		{"MemberPromote", func() error { _, err := cluster.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: 2}); return err }},
		{"ChangeMembers", func() error {
			_, err := members.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{
				{Type: nodepb.MemberChange_ADD_LEARNER, Name: "d", PeerUrls: []string{"http://127.0.0.1:2390"}},
				{Type: nodepb.MemberChange_REMOVE, Id: 3}}})
			return err
		}},
		{"EtcdStatus", func() error { _, err := maint.Status(ctx, &pb.StatusRequest{}); return err }},
		{"MoveLeader", func() error { _, err := maint.MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: 2}); return err }},
		{"Compact", func() error {
			_, err := pb.NewKVClient(conn).Compact(ctx, &pb.CompactionRequest{Revision: 3, Physical: true})
			return err
		}},
		{"Defragment", func() error { _, err := maint.Defragment(ctx, &pb.DefragmentRequest{}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	var want []string
	for _, c := range calls {
		want = append(want, c.name)
	}
	if got := fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("backend calls = %v, want %v", got, want)
	}
}

// Alarm GET/ACTIVATE/DEACTIVATE reach the backend (the NOSPACE alarm of
// the space quota is listed and disarmed through them); anything else is
// refused before it.
func TestAlarm(t *testing.T) {
	conn, fake, _ := startServer(t)
	ctx := testCtx(t)
	maint := pb.NewMaintenanceClient(conn)
	alarms, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	if err != nil || len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != pb.AlarmType_NOSPACE || alarms.Header.GetMemberId() != 1 {
		t.Errorf("Alarm GET = %v, %v; want the backend's NOSPACE alarm with a header", alarms, err)
	}
	for _, a := range []pb.AlarmRequest_AlarmAction{pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE} {
		if _, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: a, MemberID: 1, Alarm: pb.AlarmType_NOSPACE}); err != nil {
			t.Errorf("Alarm %v: %v", a, err)
		}
	}
	if _, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: 7}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown alarm action: %v, want InvalidArgument", err)
	}
	if got, want := fake.Calls(), []string{"Alarm", "Alarm", "Alarm"}; !slices.Equal(got, want) {
		t.Errorf("backend calls = %v, want %v", got, want)
	}
}

func TestUnimplemented(t *testing.T) {
	conn, _, _ := startServer(t)
	ctx := testCtx(t)
	maint := pb.NewMaintenanceClient(conn)
	calls := map[string]func() error{
		"Downgrade": func() error {
			_, err := maint.Downgrade(ctx, &pb.DowngradeRequest{Action: pb.DowngradeRequest_VALIDATE, Version: "3.5"})
			return err
		},
		"RangeStream": func() error {
			s, err := pb.NewKVClient(conn).RangeStream(ctx, &pb.RangeRequest{Key: []byte("a")})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"MemberUpdate": func() error {
			_, err := pb.NewClusterClient(conn).MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: 1})
			return err
		},
		"AuthStatus": func() error { _, err := pb.NewAuthClient(conn).AuthStatus(ctx, &pb.AuthStatusRequest{}); return err },
	}
	for name, call := range calls {
		if code := status.Code(call()); code != codes.Unimplemented {
			t.Errorf("%s: code %v, want Unimplemented", name, code)
		}
	}
}

func TestClientSeqReachesBackendOnlyForMutations(t *testing.T) {
	conn, fake, _ := startServer(t)
	ctx := metadata.AppendToOutgoingContext(testCtx(t), clientseq.MetadataClientID, "client-1", clientseq.MetadataSeq, "42")
	kv := pb.NewKVClient(conn)
	if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodepb.NewCounterClient(conn).IncrementAndGet(ctx, &nodepb.IncrementRequest{Key: []byte("n"), Delta: 1}); err != nil {
		t.Fatal(err)
	}
	want := []clientseq.Ident{{ClientID: "client-1", Seq: 42}, {ClientID: "client-1", Seq: 42}}
	if got := fake.Idents(); !slices.Equal(got, want) {
		t.Errorf("idents seen by backend = %v, want %v (Range must not carry one)", got, want)
	}
}

func TestHealthService(t *testing.T) {
	conn, _, srv := startServer(t)
	ctx := testCtx(t)
	h := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("before ready: %v, want NOT_SERVING", got)
	}
	srv.SetServing(true)
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("after SetServing(true): %v, want SERVING", got)
	}
	srv.Shutdown()
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("after Shutdown: %v, want NOT_SERVING", got)
	}
}

// TestClientV3SeesTypedErrors drives the server with etcd's own client: the
// statuses must come back as rpctypes' typed errors.
func TestClientV3SeesTypedErrors(t *testing.T) {
	conn, fake, _ := startServer(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{conn.Target()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx := testCtx(t)

	if _, err := cli.Put(ctx, "", "v"); !errors.Is(err, rpctypes.ErrEmptyKey) {
		t.Errorf("Put empty key: %v, want rpctypes.ErrEmptyKey", err)
	}
	if _, err := cli.Put(ctx, "k", strings.Repeat("x", testMaxRequestBytes)); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Errorf("Put oversize: %v, want rpctypes.ErrRequestTooLarge", err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil || string(resp.Kvs[0].Value) != "v" || resp.Header.Revision != 5 {
		t.Errorf("Get = %v, %v", resp, err)
	}
	fake.setErr(nodeerr.ErrNoLeader)
	if _, err := cli.Put(ctx, "k", "v"); !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Errorf("Put without leader: %v, want rpctypes.ErrNoLeader", err)
	}
	fake.setErr(nodeerr.ErrLearnerNotReady)
	if _, err := cli.MemberPromote(ctx, 2); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Errorf("MemberPromote: %v, want rpctypes.ErrMemberLearnerNotReady", err)
	}
}
