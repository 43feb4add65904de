package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// putEntry is entry index's command: a put of k=v from client "c", with
// the index as its sequence number.
func putEntry(index uint64, k, v string) *statepb.Command {
	b, err := proto.Marshal(&pb.PutRequest{Key: []byte(k), Value: []byte(v)})
	if err != nil {
		panic(err)
	}
	return &statepb.Command{ClientId: "c", Seq: index, Op: &statepb.Command_Put{Put: b}}
}

// openAt opens (or reopens) the store in dir, closed when the test ends
// unless closed before.
func openAt(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(zap.NewNop(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// applyPuts applies entries from..to, each a put of k<i>.
func applyPuts(t *testing.T, s *Store, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		if r := s.ApplyEntry(i, 1, putEntry(i, fmt.Sprintf("k%d", i), "v")); r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
}

// TestRestartReplaysOnlyWhatTheFileLacks: the bbolt file survives a
// restart with its consistent index; the WAL replay after the raft
// snapshot must not apply the entries the file already holds a second
// time (each would be a new revision: divergence), but must rebuild their
// metadata (the sessions).
func TestRestartReplaysOnlyWhatTheFileLacks(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	applyPuts(t, s, 1, 10)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	meta, err := s.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	applyPuts(t, s, 11, 20)
	want, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	rev := s.Revision()
	if err := s.Close(); err != nil { // commits what is pending, as a clean stop does
		t.Fatal(err)
	}

	r := openAt(t, dir)
	if got := r.ConsistentIndex(); got != 20 {
		t.Fatalf("consistent index after restart %d, want 20", got)
	}
	if err := r.Recover(meta, 10, 1); err != nil {
		t.Fatal(err)
	}
	for i := uint64(11); i <= 20; i++ { // the WAL after the snapshot
		res := r.ApplyEntry(i, 1, putEntry(i, fmt.Sprintf("k%d", i), "v"))
		if !errors.Is(res.Err, nodeerr.ErrResultNotKept) {
			t.Fatalf("replayed entry %d answered %v, want result-not-kept", i, res.Err)
		}
	}
	if got := r.Revision(); got != rev {
		t.Fatalf("revision %d after the replay, want %d: entries applied twice", got, rev)
	}
	if got, err := r.Digest(); err != nil || got != want {
		t.Fatalf("state after restart differs from before it (err %v)", err)
	}
	// A retry of a replayed command is still not applied again.
	if res := r.Apply(putEntry(20, "k20", "v")); !errors.Is(res.Err, nodeerr.ErrResultNotKept) {
		t.Fatalf("retry of entry 20 after restart: %v, want result-not-kept", res.Err)
	}
	applyPuts(t, r, 21, 21)
	if got := r.Revision(); got != rev+1 {
		t.Fatalf("revision %d after a new entry, want %d", got, rev+1)
	}
}

// TestOpenDiscardsAnUnindexedFile: the scratch file of the version before
// the store was durable carries no consistent index; replaying the WAL
// onto it would apply everything twice, so Open starts afresh.
func TestOpenDiscardsAnUnindexedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, backendFile)
	cfg := backend.DefaultBackendConfig(zap.NewNop())
	cfg.Path = path
	be := backend.New(cfg)
	kv := mvcc.New(zap.NewNop(), be, nil, mvcc.StoreConfig{})
	kv.Put([]byte("old"), []byte("v"), 0)
	if err := errors.Join(kv.Close(), be.Close()); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, dir)
	if s.Len() != 0 || s.Revision() != 1 {
		t.Fatalf("reopened an unindexed file: %d keys at revision %d", s.Len(), s.Revision())
	}
}

// TestSnapshotStreamsTheFile: a follower gets the metadata in the raft
// snapshot and the key space as a stream, stores it, and installs it: the
// same state as the leader's, though the leader applied more entries
// between the two (the follower then skips those entries' writes).
func TestSnapshotStreamsTheFile(t *testing.T) {
	leader := openAt(t, t.TempDir())
	applyPuts(t, leader, 1, 10)
	meta, err := leader.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if len(meta) > 4<<10 {
		t.Fatalf("metadata snapshot is %d bytes: it must not carry the key space", len(meta))
	}
	applyPuts(t, leader, 11, 12) // applied while the transport opens the file
	db, err := leader.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := db.WriteTo(&stream); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	fdir := t.TempDir()
	follower := openAt(t, fdir)
	if err := follower.InstallSnapshot(meta, 10, 1); err == nil || !strings.Contains(err.Error(), "no key space was received") {
		t.Fatalf("install without the stream: %v, want a clear error", err)
	}
	if err := follower.SaveIncoming(10, &stream); err != nil {
		t.Fatal(err)
	}
	if err := follower.InstallSnapshot(meta, 10, 1); err != nil {
		t.Fatal(err)
	}
	for i := uint64(11); i <= 12; i++ {
		follower.ApplyEntry(i, 1, putEntry(i, fmt.Sprintf("k%d", i), "v"))
	}
	if follower.Revision() != leader.Revision() {
		t.Fatalf("follower at revision %d, leader at %d", follower.Revision(), leader.Revision())
	}
	if left, _ := filepath.Glob(filepath.Join(fdir, incomingPrefix+"*")); len(left) != 0 {
		t.Fatalf("received files left after install: %v", left)
	}
}

// TestRecoverUsesTheReceivedFile: a crash after raft persisted a received
// snapshot but before the key space was installed leaves the file behind
// the snapshot; the restart installs the received file, and says clearly
// when it is missing.
func TestRecoverUsesTheReceivedFile(t *testing.T) {
	leader := openAt(t, t.TempDir())
	applyPuts(t, leader, 1, 5)
	meta, err := leader.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	db, err := leader.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	_, err = db.WriteTo(&stream)
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	missing := openAt(t, t.TempDir())
	if err := missing.Recover(meta, 5, 1); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("recover without the received file: %v, want a clear error", err)
	}

	dir := t.TempDir()
	f := openAt(t, dir)
	// A reader that is not an io.WriterTo (the transport's is), so the
	// buffered copy is covered too.
	if err := f.SaveIncoming(5, struct{ io.Reader }{bytes.NewReader(stream.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // the crash
		t.Fatal(err)
	}
	r := openAt(t, dir)
	if err := r.Recover(meta, 5, 1); err != nil {
		t.Fatal(err)
	}
	if r.Revision() != leader.Revision() || r.ConsistentIndex() < 5 {
		t.Fatalf("recovered revision %d (index %d), want %d (≥ 5)", r.Revision(), r.ConsistentIndex(), leader.Revision())
	}
}

// TestRecoverFromAWholeSnapshot: a seeded data dir (--restore-from) holds
// a whole snapshot and no file yet; the restart writes the key space from
// it, with the consistent index at the snapshot's, so the next restart
// keeps the file.
func TestRecoverFromAWholeSnapshot(t *testing.T) {
	src := newStore(t)
	applyPuts(t, src, 1, 3)
	whole, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openAt(t, dir)
	if err := s.Recover(whole, 7, 2); err != nil {
		t.Fatal(err)
	}
	if s.Revision() != src.Revision() || s.ConsistentIndex() != 7 {
		t.Fatalf("revision %d index %d, want %d and 7", s.Revision(), s.ConsistentIndex(), src.Revision())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := openAt(t, dir)
	if again.ConsistentIndex() != 7 || again.Revision() != src.Revision() {
		t.Fatalf("after a second start: index %d revision %d", again.ConsistentIndex(), again.Revision())
	}
}

// TestWritebackFileWritesThrough: the received key space's writer starts
// writeback of every writebackBytes it passes on, and what it writes is
// the file's content, whatever the pieces.
func TestWritebackFileWritesThrough(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "incoming-*.db")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	src := make([]byte, 2*writebackBytes+12345)
	for i := range src {
		src[i] = byte(i * 13)
	}
	w := &writebackFile{f: f}
	for off := 0; off < len(src); off += 700 << 10 {
		if _, err := w.Write(src[off:min(off+700<<10, len(src))]); err != nil {
			t.Fatal(err)
		}
	}
	if w.written != int64(len(src)) || w.flushed < writebackBytes || w.written-w.flushed >= writebackBytes {
		t.Errorf("writeback started up to %d of %d bytes written; want all but less than %d of %d", w.flushed, w.written, writebackBytes, len(src))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("file holds %d bytes (%v), want the %d written", len(got), err, len(src))
	}
}
