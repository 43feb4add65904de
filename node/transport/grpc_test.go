package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc/connectivity"

	"github.com/kuberaft/kuberaft/internal/testport"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// fakeHandler records what a transport delivers and reports.
type fakeHandler struct {
	mu          sync.Mutex
	got         []*raftpb.Message
	db          []byte            // the key space OpenSnapshotDB streams
	received    map[uint64][]byte // key spaces received, by snapshot index
	readSmall   bool              // read key spaces in small Reads, not as the store does (io.Copy to a file)
	diskFull    bool              // storing a key space fails after its first bytes (set before serving)
	snapReports []raft.SnapshotStatus
	removed     map[uint64]bool
	removedErr  error
	notify      chan struct{}
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{removed: map[uint64]bool{}, notify: make(chan struct{}, 1024)}
}

func (h *fakeHandler) poke() {
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

func (h *fakeHandler) Process(_ context.Context, m *raftpb.Message) error {
	h.mu.Lock()
	h.got = append(h.got, m)
	h.mu.Unlock()
	h.poke()
	return nil
}
func (h *fakeHandler) ReportUnreachable(uint64) {}

type fakeDB struct{ *bytes.Reader }

func (fakeDB) Close() error { return nil }

func (h *fakeHandler) OpenSnapshotDB() (SnapshotDB, error) {
	return fakeDB{bytes.NewReader(h.db)}, nil
}
func (h *fakeHandler) ReceiveSnapshotDB(index uint64, r io.Reader) error {
	h.mu.Lock()
	small := h.readSmall
	h.mu.Unlock()
	var buf bytes.Buffer
	var err error
	switch {
	case small:
		_, err = io.CopyBuffer(struct{ io.Writer }{&buf}, struct{ io.Reader }{r}, make([]byte, 1000))
	case h.diskFull:
		_, err = io.Copy(&fullDisk{room: chunkBytes + 10}, r)
	default:
		_, err = io.Copy(&buf, r)
	}
	if err != nil {
		return err
	}
	b := buf.Bytes()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.received == nil {
		h.received = map[uint64][]byte{}
	}
	h.received[index] = b
	return nil
}

// fullDisk is a file that takes room bytes and then fails.
type fullDisk struct{ room int }

func (d *fullDisk) Write(b []byte) (int, error) {
	if len(b) > d.room {
		n := d.room
		d.room = 0
		return n, errors.New("no space left on device")
	}
	d.room -= len(b)
	return len(b), nil
}

func (h *fakeHandler) ReportSnapshot(_ uint64, s raft.SnapshotStatus) {
	h.mu.Lock()
	h.snapReports = append(h.snapReports, s)
	h.mu.Unlock()
	h.poke()
}
func (h *fakeHandler) ReportRemoved(err error) {
	h.mu.Lock()
	h.removedErr = err
	h.mu.Unlock()
	h.poke()
}
func (h *fakeHandler) IsRemoved(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.removed[id]
}
func (h *fakeHandler) Members() *peerpb.MembersResponse {
	return &peerpb.MembersResponse{ClusterId: 9, Members: []*peerpb.Member{{Id: 1, Name: "a"}}}
}
func (h *fakeHandler) ChangeMembers(context.Context, *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	return nil, nodeerr.ErrLearnerNotReady
}

// waitFor polls cond on every handler event, up to 10s.
func (h *fakeHandler) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-h.notify:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func startGRPC(t testing.TB, id, cluster uint64, h Handler) (*GRPC, string) {
	t.Helper()
	return startGRPCWith(t, GRPCConfig{}, id, cluster, h)
}

// startGRPCWith starts a transport with cfg, on a new loopback listener
// unless cfg has one, stopped when the test ends; it returns its URL.
func startGRPCWith(t testing.TB, cfg GRPCConfig, id, cluster uint64, h Handler) (*GRPC, string) {
	t.Helper()
	if cfg.Listener == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = l
	}
	tr, err := NewGRPC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(h, id, cluster); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	return tr, "http://" + cfg.Listener.Addr().String()
}

func TestGRPCMessagesAndSnapshot(t *testing.T) {
	ha, hb := newFakeHandler(), newFakeHandler()
	a, _ := startGRPC(t, 1, 9, ha)
	_, urlB := startGRPC(t, 2, 9, hb)
	a.AddPeer(2, []string{urlB})

	var msgs []*raftpb.Message
	for i := range 1000 {
		msgs = append(msgs, &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Index: new(uint64(i))})
	}
	a.Send(msgs)
	hb.waitFor(t, "1000 messages", func() bool { return len(hb.got) == 1000 })
	for i, m := range hb.got {
		if m.GetIndex() != uint64(i) {
			t.Fatalf("message %d has index %d: reordered", i, m.GetIndex())
		}
	}

	// A snapshot whose message and key space each span several chunks
	// arrives whole, the key space stored before the message is stepped,
	// and is reported.
	data := make([]byte, 3*chunkBytes+17)
	for i := range data {
		data[i] = byte(i)
	}
	ha.db = make([]byte, 5*chunkBytes+3)
	for i := range ha.db {
		ha.db[i] = byte(i * 7)
	}
	// The key space is read as the store reads it (io.Copy, which takes
	// each chunk whole through WriteTo), then in small Reads.
	for i, readSmall := range []bool{false, true} {
		hb.mu.Lock()
		hb.readSmall = readSmall
		hb.mu.Unlock()
		index := uint64(5 + i)
		snap := &raftpb.Message{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
			Snapshot: &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(uint64(1))}}}
		a.Send([]*raftpb.Message{snap})
		ha.waitFor(t, "snapshot report", func() bool { return len(ha.snapReports) == i+1 })
		if ha.snapReports[i] != raft.SnapshotFinish {
			t.Fatalf("snapshot report %v, want finish", ha.snapReports[i])
		}
		hb.mu.Lock()
		got := hb.got[len(hb.got)-1]
		gotDB := hb.received[index]
		hb.mu.Unlock()
		if got.GetType() != raftpb.MessageType_MsgSnap || !bytes.Equal(got.Snapshot.Data, data) {
			t.Fatal("snapshot arrived damaged")
		}
		if !bytes.Equal(gotDB, ha.db) {
			t.Fatalf("key space arrived with %d bytes, want the %d sent", len(gotDB), len(ha.db))
		}
	}

	members, err := a.Members(context.Background(), urlB)
	if err != nil || members.ClusterId != 9 {
		t.Fatalf("members = %v, %v", members, err)
	}
	if _, err := a.ChangeMembers(context.Background(), urlB, &nodepb.ChangeMembersRequest{}); !errors.Is(err, nodeerr.ErrLearnerNotReady) {
		t.Fatalf("forwarded change error %v, want ErrLearnerNotReady", err)
	}
}

func TestGRPCRefusesRemovedAndForeignMembers(t *testing.T) {
	ha, hb, hc := newFakeHandler(), newFakeHandler(), newFakeHandler()
	a, _ := startGRPC(t, 1, 9, ha)
	_, urlB := startGRPC(t, 2, 9, hb)
	c, _ := startGRPC(t, 3, 8, hc) // another cluster
	hb.removed[1] = true
	a.AddPeer(2, []string{urlB})
	c.AddPeer(2, []string{urlB})
	msg := func(from uint64) []*raftpb.Message {
		return []*raftpb.Message{{Type: raftpb.MessageType_MsgHeartbeat.Enum(), From: new(from), To: new(uint64(2))}}
	}
	a.Send(msg(1))
	ha.waitFor(t, "removed report", func() bool { return ha.removedErr != nil })
	if !errors.Is(ha.removedErr, ErrRemoved) {
		t.Fatalf("removed member told %v", ha.removedErr)
	}
	// A foreign member is refused but not fenced: it may be the healthy
	// side. Its stream ends; a later message opens a new one.
	c.Send(msg(3))
	time.Sleep(100 * time.Millisecond) // nothing to wait for: the absence of a report is the point
	c.Send(msg(3))
	time.Sleep(100 * time.Millisecond)
	hc.mu.Lock()
	if hc.removedErr != nil {
		t.Fatalf("a foreign peer fenced the sender: %v", hc.removedErr)
	}
	hc.mu.Unlock()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if len(hb.got) != 0 {
		t.Fatalf("refused members' messages were delivered: %v", hb.got)
	}
}

func TestGRPCUnreachablePeerFailsSnapshot(t *testing.T) {
	ha := newFakeHandler()
	a, _ := startGRPC(t, 1, 9, ha)
	// Nothing listens there; the name does not even need to resolve.
	a.AddPeer(2, []string{"http://peer-that-does-not-exist.invalid:2380"})
	a.Send([]*raftpb.Message{{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Snapshot: &raftpb.Snapshot{Data: []byte("x"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1))}}}})
	ha.waitFor(t, "snapshot failure", func() bool { return len(ha.snapReports) == 1 })
	if ha.snapReports[0] != raft.SnapshotFailure {
		t.Fatalf("report %v, want failure", ha.snapReports[0])
	}
}

// TestGRPCSnapshotReceiverIsBounded: the receiver buffered every chunk of
// a snapshot with no limit (issue 8 item 12); past MaxSnapshotBytes the
// transfer fails and raft hears of it.
func TestGRPCSnapshotReceiverIsBounded(t *testing.T) {
	ha, hb := newFakeHandler(), newFakeHandler()
	a, _ := startGRPC(t, 1, 9, ha)
	_, urlB := startGRPCWith(t, GRPCConfig{MaxSnapshotBytes: 2 * chunkBytes}, 2, 9, hb)
	a.AddPeer(2, []string{urlB})
	// Past the bound in the message, then in the key space.
	for i, tc := range []struct{ msg, db int }{{3 * chunkBytes, 0}, {10, 3 * chunkBytes}} {
		ha.db = make([]byte, tc.db)
		snap := &raftpb.Message{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
			Snapshot: &raftpb.Snapshot{Data: make([]byte, tc.msg), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(1))}}}
		a.Send([]*raftpb.Message{snap})
		ha.waitFor(t, "snapshot report", func() bool { return len(ha.snapReports) == i+1 })
		if ha.snapReports[i] != raft.SnapshotFailure {
			t.Fatalf("case %d: snapshot report %v, want failure", i, ha.snapReports[i])
		}
		hb.mu.Lock()
		if len(hb.got) != 0 || len(hb.received) != 0 {
			t.Fatalf("case %d: receiver stepped %d messages / stored %d key spaces of an oversized snapshot", i, len(hb.got), len(hb.received))
		}
		hb.mu.Unlock()
	}
}

func TestCheckPeerURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://a:2380", true},
		{"https://a:2380", true}, // the transport checks it matches its TLS
		{"ftp://a:2380", false},
		{"unix://x", false},
		{"http://", false},
	} {
		if err := CheckPeerURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckPeerURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

// TestGRPCRedialsAPeerThatSaysHello: a member added to the cluster is
// dialed before its process runs, so the leader's connection to it is in
// backoff when it starts. Its hello (the stream it opens as it starts)
// makes the leader redial at once: with a minute of backoff in this test,
// the leader's message still arrives within seconds.
func TestGRPCRedialsAPeerThatSaysHello(t *testing.T) {
	ha, hb := newFakeHandler(), newFakeHandler()
	a, urlA := startGRPCWith(t, GRPCConfig{dialBackoff: time.Minute}, 1, 9, ha)
	addrB := fmt.Sprintf("127.0.0.1:%d", testport.Reserve(t, 1)[0])
	a.AddPeer(2, []string{"http://" + addrB})
	msg := []*raftpb.Message{{Type: raftpb.MessageType_MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2))}}
	a.Send(msg)
	a.mu.Lock()
	conn := a.peers[2].conn
	a.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); conn.GetState() != connectivity.TransientFailure; {
		if time.Now().After(deadline) {
			t.Fatalf("the connection to the absent peer is %v, want in backoff", conn.GetState())
		}
		time.Sleep(10 * time.Millisecond)
	}

	lb, err := net.Listen("tcp", addrB)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := startGRPCWith(t, GRPCConfig{Listener: lb}, 2, 9, hb)
	b.AddPeer(1, []string{urlA})
	// Messages sent while a waits to retry are dropped (raft resends), so
	// a sends until one arrives.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				a.Send(msg)
			}
		}
	}()
	hb.waitFor(t, "the leader's message after the hello", func() bool { return len(hb.got) > 0 })
}

// TestGRPCSnapshotStoreFailureFailsTheTransfer: when storing the key space
// fails midway (a full disk), the receiver stops, steps nothing and the
// sender reports the snapshot failed, so raft retries it later.
func TestGRPCSnapshotStoreFailureFailsTheTransfer(t *testing.T) {
	ha, hb := newFakeHandler(), newFakeHandler()
	hb.diskFull = true
	a, _ := startGRPC(t, 1, 9, ha)
	_, urlB := startGRPC(t, 2, 9, hb)
	a.AddPeer(2, []string{urlB})
	ha.db = make([]byte, 40*chunkBytes)
	a.Send([]*raftpb.Message{{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
		Snapshot: &raftpb.Snapshot{Data: []byte("meta"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(1))}}}})
	ha.waitFor(t, "snapshot report", func() bool { return len(ha.snapReports) == 1 })
	if ha.snapReports[0] != raft.SnapshotFailure {
		t.Fatalf("snapshot report %v, want failure", ha.snapReports[0])
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if len(hb.got) != 0 || len(hb.received) != 0 {
		t.Fatalf("receiver stepped %d messages / stored %d key spaces after a failed store", len(hb.got), len(hb.received))
	}
}
