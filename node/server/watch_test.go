package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/limits"
)

// testProgressInterval is the periodic progress interval of the watch
// tests: short, so the periodic case is quick; the tests wait for the
// progress response, they do not time it.
const testProgressInterval = 50 * time.Millisecond

// startWatchServer serves Watch from a real store; the test writes to it
// directly.
func startWatchServer(t *testing.T) (pb.WatchClient, *kv.Store) {
	t.Helper()
	store, err := kv.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Backend: &fakeBackend{store: store}, Limits: limits.Limits{MaxRequestBytes: testMaxRequestBytes}, WatchProgressNotifyInterval: testProgressInterval})
	g := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	return pb.NewWatchClient(conn), store
}

func openWatch(t *testing.T, c pb.WatchClient) pb.Watch_WatchClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	w, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func send(t *testing.T, w pb.Watch_WatchClient, req *pb.WatchRequest) {
	t.Helper()
	if err := w.Send(req); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, w pb.Watch_WatchClient) *pb.WatchResponse {
	t.Helper()
	resp, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func create(req *pb.WatchCreateRequest) *pb.WatchRequest {
	return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: req}}
}

func put(t *testing.T, s *kv.Store, k, v string) int64 {
	t.Helper()
	resp, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte(v)})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// recvEvents collects events of watch id until n arrived.
func recvEvents(t *testing.T, w pb.Watch_WatchClient, id int64, n int) []*mvccpb.Event {
	t.Helper()
	var evs []*mvccpb.Event
	for len(evs) < n {
		resp := recv(t, w)
		if resp.WatchId != id || resp.Canceled {
			t.Fatalf("unexpected response %v while waiting for events of watch %d", resp, id)
		}
		evs = append(evs, resp.Events...)
	}
	return evs
}

func TestWatchEventsPrevKVAndCancel(t *testing.T) {
	c, s := startWatchServer(t)
	put(t, s, "a", "1")
	w := openWatch(t, c)
	send(t, w, create(&pb.WatchCreateRequest{Key: []byte("a"), PrevKv: true}))
	created := recv(t, w)
	if !created.Created || created.Canceled || created.Header.Revision != 2 {
		t.Fatalf("first response %v, want created at revision 2", created)
	}
	put(t, s, "a", "2")
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", "3")
	evs := recvEvents(t, w, created.WatchId, 3)
	want := []struct {
		typ        mvccpb.Event_EventType
		rev        int64
		value, pre string
	}{{mvccpb.PUT, 3, "2", "1"}, {mvccpb.DELETE, 4, "", "2"}, {mvccpb.PUT, 5, "3", ""}}
	for i, ev := range evs {
		w := want[i]
		if ev.Type != w.typ || ev.Kv.ModRevision != w.rev || string(ev.Kv.Value) != w.value {
			t.Fatalf("event %d = %v, want %v at %d value %q", i, ev, w.typ, w.rev, w.value)
		}
		if got := string(ev.GetPrevKv().GetValue()); got != w.pre || (w.pre == "") != (ev.PrevKv == nil) {
			t.Fatalf("event %d prev_kv = %v, want value %q", i, ev.PrevKv, w.pre)
		}
	}
	send(t, w, &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: created.WatchId}}})
	if resp := recv(t, w); !resp.Canceled || resp.WatchId != created.WatchId {
		t.Fatalf("cancel answered %v", resp)
	}
}

// A watch from a past revision replays history in order; one from below
// the compaction point is created, then canceled with the compact revision.
func TestWatchHistoryAndCompacted(t *testing.T) {
	c, s := startWatchServer(t)
	for _, k := range []string{"p/a", "p/b", "q", "p/c"} { // revisions 2..5
		put(t, s, k, "v")
	}
	w := openWatch(t, c)
	send(t, w, create(&pb.WatchCreateRequest{Key: []byte("p/"), RangeEnd: []byte("p0"), StartRevision: 3}))
	created := recv(t, w)
	evs := recvEvents(t, w, created.WatchId, 2)
	if string(evs[0].Kv.Key) != "p/b" || evs[0].Kv.ModRevision != 3 || string(evs[1].Kv.Key) != "p/c" || evs[1].Kv.ModRevision != 5 {
		t.Fatalf("replayed %v, want p/b@3 then p/c@5", evs)
	}
	if _, err := s.Compact(&pb.CompactionRequest{Revision: 4}); err != nil {
		t.Fatal(err)
	}
	send(t, w, create(&pb.WatchCreateRequest{Key: []byte("p/"), RangeEnd: []byte("p0"), StartRevision: 2}))
	old := recv(t, w)
	if !old.Created {
		t.Fatalf("watch below the compaction: first response %v, want created", old)
	}
	gone := recv(t, w)
	if !gone.Canceled || gone.CompactRevision != 4 || gone.WatchId != old.WatchId {
		t.Fatalf("watch below the compaction: %v, want canceled with compact_revision 4", gone)
	}
}

// Filters drop the event types asked for; a progress request is answered
// with watch id -1 and the current revision; a watch with progress_notify
// gets periodic progress while idle.
func TestWatchFiltersAndProgress(t *testing.T) {
	c, s := startWatchServer(t)
	w := openWatch(t, c)
	send(t, w, create(&pb.WatchCreateRequest{Key: []byte("k"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}}))
	created := recv(t, w)
	put(t, s, "k", "1")
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if evs := recvEvents(t, w, created.WatchId, 1); evs[0].Type != mvccpb.DELETE || evs[0].Kv.ModRevision != 3 {
		t.Fatalf("NOPUT watch got %v, want only the delete at 3", evs)
	}
	send(t, w, &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
	if p := recv(t, w); p.WatchId != -1 || len(p.Events) != 0 || p.Header.Revision != 3 {
		t.Fatalf("progress request answered %v, want watch id -1 at revision 3", p)
	}

	w2 := openWatch(t, c)
	send(t, w2, create(&pb.WatchCreateRequest{Key: []byte("idle"), ProgressNotify: true}))
	idle := recv(t, w2)
	if p := recv(t, w2); p.WatchId != idle.WatchId || len(p.Events) != 0 || p.Header.Revision != 3 {
		t.Fatalf("periodic progress = %v, want an empty response for watch %d at revision 3", p, idle.WatchId)
	}
}

// A response over the size limit is split when the watch allows it; the
// fragments carry every event of the revision, in order.
func TestWatchFragment(t *testing.T) {
	c, s := startWatchServer(t)
	w := openWatch(t, c)
	send(t, w, create(&pb.WatchCreateRequest{Key: []byte("f/"), RangeEnd: []byte("f0"), Fragment: true}))
	created := recv(t, w)
	var ops []*pb.RequestOp
	const n = 10
	for i := range n {
		ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{
			Key: []byte{'f', '/', byte('a' + i)}, Value: []byte(strings.Repeat("x", testMaxRequestBytes/4))}}})
	}
	if _, err := s.Txn(&pb.TxnRequest{Success: ops}); err != nil {
		t.Fatal(err)
	}
	var evs []*mvccpb.Event
	parts := 0
	for {
		resp := recv(t, w)
		if resp.WatchId != created.WatchId {
			t.Fatalf("unexpected response %v", resp)
		}
		parts++
		evs = append(evs, resp.Events...)
		if !resp.Fragment {
			break
		}
	}
	if parts < 2 || len(evs) != n {
		t.Fatalf("%d responses with %d events, want >= 2 fragments with %d", parts, len(evs), n)
	}
	for i, ev := range evs {
		if ev.Kv.Key[2] != byte('a'+i) {
			t.Fatalf("fragment order: event %d is %q", i, ev.Kv.Key)
		}
	}
}
