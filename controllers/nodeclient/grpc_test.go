package nodeclient

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	nodeserver "github.com/kuberaft/kuberaft/node/server"
)

// server is an in-process node: the Membership service plus etcd's
// Maintenance and Cluster services, answering from fixed data.
type server struct {
	nodepb.UnimplementedMembershipServer
	notLeader atomic.Bool
	block     chan struct{}
	got       *nodepb.ChangeMembersRequest
	moved     uint64
}

func (s *server) Status(context.Context, *nodepb.StatusRequest) (*nodepb.StatusResponse, error) {
	return &nodepb.StatusResponse{Id: 1, Name: "kv-0", Role: "Leader", Leader: 1, Term: 4, Commit: 10, Applied: 9, Joint: true,
		ConfState: &nodepb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}, VotersOutgoing: []uint64{1}},
		Progress:  []*nodepb.Progress{{Id: 3, Match: 8, IsLearner: true, NotPromotableReason: "match 8 of leader's 10 is below 90%"}},
		Members:   []*nodepb.Member{{Id: 3, Name: "kv-2", IsLearner: true, PeerUrls: []string{"http://kv-2:2380"}}},
		ClusterId: 77, Version: "v1"}, nil
}

func (s *server) ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.notLeader.Load() {
		return nil, nodeserver.ToGRPCError(nodeerr.ErrNotLeader)
	}
	s.got = req
	return &nodepb.ChangeMembersResponse{Members: []*nodepb.Member{{Id: 9, Name: req.GetChanges()[0].GetName(), IsLearner: true}}}, nil
}

// etcdServer is the node's etcd Maintenance and Cluster services.
type etcdServer struct {
	pb.UnimplementedMaintenanceServer
	pb.UnimplementedClusterServer
	s *server
}

func (e etcdServer) MoveLeader(_ context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	e.s.moved = req.TargetID
	return &pb.MoveLeaderResponse{}, nil
}

func (etcdServer) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	return &pb.MemberListResponse{Members: []*pb.Member{{ID: 1, Name: "kv-0"}, {ID: 3, Name: "kv-2", IsLearner: true}}}, nil
}

func start(t *testing.T, s *server) (*GRPC, *atomic.Int32) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	nodepb.RegisterMembershipServer(g, s)
	pb.RegisterMaintenanceServer(g, etcdServer{s: s})
	pb.RegisterClusterServer(g, etcdServer{s: s})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	dials := &atomic.Int32{}
	c := NewGRPC(Options{
		CallTimeout: time.Second, ChangeTimeout: 200 * time.Millisecond,
		Address: func(Endpoint) string { return lis.Addr().String() },
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			})},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c, dials
}

var ep = Endpoint{Namespace: "db", Service: "kv-peer", Pod: "kv-0"}

func TestAddress(t *testing.T) {
	if got := NewGRPC(Options{}).Address(ep); got != "kv-0.kv-peer.db.svc.cluster.local:2379" {
		t.Errorf("Address = %s", got)
	}
}

func TestGRPCStatusAndConnectionReuse(t *testing.T) {
	c, dials := start(t, &server{})
	ctx := context.Background()
	var st *Status
	for range 3 {
		var err error
		if st, err = c.Status(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	if st.ID != 1 || st.Role != "Leader" || !st.Joint || len(st.VotersOutgoing) != 1 || st.Progress[3].Match != 8 ||
		!st.Progress[3].IsLearner || st.Members[0].Name != "kv-2" || st.ClusterID != 77 || st.Applied != 9 ||
		st.Progress[3].Promotable || st.Progress[3].NotPromotableReason == "" {
		t.Errorf("status = %+v", st)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 3 calls, want 1 reused connection", n)
	}
	ms, err := c.MemberList(ctx, ep)
	if err != nil || len(ms) != 2 || !ms[1].IsLearner {
		t.Errorf("MemberList = %+v, %v", ms, err)
	}
}

func TestGRPCChangeMembersAndMoveLeader(t *testing.T) {
	s := &server{}
	c, _ := start(t, s)
	ctx := context.Background()
	ms, err := c.ChangeMembers(ctx, ep, []Change{{Type: AddLearner, Name: "kv-3", PeerURLs: []string{"http://kv-3:2380"}}, {Type: Promote, ID: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].ID != 9 || s.got.GetChanges()[0].GetType() != nodepb.MemberChange_ADD_LEARNER || s.got.GetChanges()[1].GetType() != nodepb.MemberChange_PROMOTE ||
		s.got.GetChanges()[1].GetId() != 5 {
		t.Errorf("sent %v, got %+v", s.got, ms)
	}
	if err := c.MoveLeader(ctx, ep, 42); err != nil || s.moved != 42 {
		t.Errorf("MoveLeader: %v, moved to %d", err, s.moved)
	}
	s.notLeader.Store(true)
	if _, err := c.ChangeMembers(ctx, ep, []Change{{Type: Remove, ID: 2}}); !IsNotLeader(err) {
		t.Errorf("err = %v, want IsNotLeader", err)
	}
}

func TestGRPCChangeTimeout(t *testing.T) {
	s := &server{block: make(chan struct{})}
	c, _ := start(t, s)
	start := time.Now()
	_, err := c.ChangeMembers(context.Background(), ep, []Change{{Type: Remove, ID: 2}})
	if !IsUnavailable(err) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call took %v despite the 200ms change timeout", d)
	}
	close(s.block)
}

func TestGRPCUnreachable(t *testing.T) {
	c := NewGRPC(Options{CallTimeout: 300 * time.Millisecond, Address: func(Endpoint) string { return "127.0.0.1:1" }})
	defer func() { _ = c.Close() }()
	if _, err := c.Status(context.Background(), ep); !IsUnavailable(err) {
		t.Errorf("err = %v, want IsUnavailable", err)
	}
}

// TestErrorPredicates feeds the predicates the statuses the node's own
// error table produces, wrapped as GRPC wraps them; a status with the same
// code and message but no reason must not match (no message matching).
func TestErrorPredicates(t *testing.T) {
	node := nodeserver.ToGRPCError
	for _, tc := range []struct {
		name                              string
		err                               error
		notLeader, retryable, unavailable bool
	}{
		{"not leader", node(nodeerr.ErrNotLeader), true, false, false},
		{"no leader", node(nodeerr.ErrNoLeader), true, false, true},
		{"leader changed", node(nodeerr.ErrLeaderChanged), true, false, true},
		{"learner not ready", node(fmt.Errorf("%w: match 1 of 10", nodeerr.ErrLearnerNotReady)), false, true, false},
		{"not enough started", node(nodeerr.ErrNotEnoughStarted), false, true, false},
		{"conf change timeout", node(nodeerr.ErrConfChangeTimeout), false, true, true},
		{"timeout", node(nodeerr.ErrTimeout), false, true, true},
		{"member not found", node(nodeerr.ErrMemberNotFound), false, false, false},
		{"wrapped not leader", fmt.Errorf("change members through kv-0: %w", node(nodeerr.ErrNotLeader)), true, false, false},
		{"etcd text without reason", rpctypes.ErrGRPCNotLeader, false, false, false},
		{"etcd timeout text without reason", rpctypes.ErrGRPCTimeout, false, false, true},
		{"deadline", context.DeadlineExceeded, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if IsNotLeader(tc.err) != tc.notLeader || IsRetryableChange(tc.err) != tc.retryable || IsUnavailable(tc.err) != tc.unavailable {
				t.Errorf("%v: notLeader=%v retryable=%v unavailable=%v", tc.err, IsNotLeader(tc.err), IsRetryableChange(tc.err), IsUnavailable(tc.err))
			}
		})
	}
}

func TestFencedReadsTheStatusPage(t *testing.T) {
	for body, want := range map[string]string{
		`{"fenced":"member 2 was removed from the cluster"}`: "member 2 was removed from the cluster",
		`{"id":1,"name":"kv-0","role":"Leader"}`:             "",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/status" {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, body)
		}))
		c := NewGRPC(Options{HTTPAddress: func(Endpoint) string { return strings.TrimPrefix(srv.URL, "http://") }})
		got, err := c.Fenced(context.Background(), ep)
		if err != nil || got != want {
			t.Errorf("Fenced = %q, %v; want %q", got, err, want)
		}
		srv.Close()
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	c, dials := start(t, &server{})
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := c.Status(ctx, ep); err != nil {
		t.Fatal(err)
	}
	other := Endpoint{Namespace: "db", Service: "kv-peer", Pod: "kv-1"}
	now = now.Add(IdleTimeout + time.Second)
	// Any use sweeps: kv-0's connection (same test address, but keyed by
	// address) is idle and goes; the next call dials again.
	if _, err := c.Status(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want a new connection after the idle one was closed", n)
	}
	if len(c.conns) != 1 {
		t.Errorf("%d cached connections, want 1", len(c.conns))
	}
}
