package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// How the store meets raft (see engine for why it is shaped so):
//
//   - Every applied entry goes through ApplyEntry or MarkApplied, which keep
//     the consistent index. An entry at or below it already has its
//     effects in the bbolt file (a restart, or a key space received ahead
//     of its snapshot's index): only its metadata part is replayed
//     (sessions, members, alarms, which live in memory and in raft
//     snapshots), never its key-space writes.
//   - A raft snapshot carries Metadata only. Commit first makes the file
//     durable up to the snapshot's index, so the WAL before it may go.
//   - A leader streams the file (OpenDB) after the MsgSnap; the follower
//     stores it (SaveIncoming) before raft sees the message, and
//     InstallSnapshot makes it the key space.
//   - Recover, at start, pairs the file with the newest raft snapshot.

// incomingPrefix names the files SaveIncoming writes: incomingPrefix, the
// snapshot index in hex, ".db".
const incomingPrefix = "snap-"

// ConsistentIndex is the last raft entry whose effects the key space holds.
func (s *Store) ConsistentIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.eng.ci.ConsistentIndex()
}

// ApplyEntry applies cmd, the command of raft entry (index, term). An
// entry the key space already holds (index ≤ ConsistentIndex) has only its
// metadata replayed: its session is recorded with "result not kept" (the
// response was not kept across the restart), alarms and member attributes
// are applied again, and key-space writes are skipped.
func (s *Store) ApplyEntry(index, term uint64, cmd *statepb.Command) Result {
	s.mu.RLock()
	ci := s.eng.ci
	s.mu.RUnlock()
	if index <= ci.ConsistentIndex() {
		return s.replay(cmd)
	}
	ci.SetConsistentApplyingIndex(index, term)
	res := s.Apply(cmd)
	s.MarkApplied(index, term)
	return res
}

// MarkApplied records entry (index, term) as applied when it wrote nothing
// to the key space (an empty or conf-change entry, a refused command).
func (s *Store) MarkApplied(index, term uint64) {
	s.mu.RLock()
	ci := s.eng.ci
	s.mu.RUnlock()
	if ci.ConsistentIndex() < index {
		ci.SetConsistentIndex(index, term)
	}
}

// replay applies the metadata part of a command whose key-space part is
// already in the file (see ApplyEntry).
func (s *Store) replay(cmd *statepb.Command) Result {
	run := func() Result {
		switch op := cmd.Op.(type) {
		case *statepb.Command_Alarm:
			req := &pb.AlarmRequest{}
			if err := proto.Unmarshal(op.Alarm, req); err != nil {
				return Result{Err: err}
			}
			resp, err := s.applyAlarm(req)
			return Result{Resp: resp, Err: err}
		case *statepb.Command_Publish:
			return Result{Resp: &statepb.Member{}, Err: s.Publish(op.Publish)}
		}
		return Result{Err: nodeerr.ErrResultNotKept}
	}
	if cmd.ClientId == "" {
		return run()
	}
	fp := fingerprint(cmd)
	if r, dup := s.lookupSession(cmd, fp); dup {
		return r
	}
	res := run()
	s.recordSession(cmd, fp, Result{Err: nodeerr.ErrResultNotKept})
	return res
}

// Metadata is the state without the key space, as a raft snapshot carries
// it (backend_on_disk set).
func (s *Store) Metadata() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	snap, err := s.metadataLocked()
	if err != nil {
		return nil, err
	}
	snap.BackendOnDisk = true
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Commit makes the key space durable up to ConsistentIndex, with that
// index recorded in the file (also when the last entries wrote nothing, so
// a commit would otherwise be skipped). Call it before a raft snapshot
// names the index.
func (s *Store) Commit() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return err
	}
	s.eng.saveIndex()
	return nil
}

// saveIndex writes the consistent index into the file and commits.
func (e *engine) saveIndex() {
	tx := e.be.BatchTx()
	tx.LockOutsideApply()
	e.ci.UnsafeSave(tx)
	tx.Unlock()
	e.commit()
}

// DB is a consistent read-only view of the key space, for streaming it to
// a follower. Close it when done: it holds a bbolt read transaction.
type DB struct {
	snap backend.Snapshot
}

// OpenDB commits what is applied and opens a view of it. Its consistent
// index is at least the applied index at the call.
func (s *Store) OpenDB() (*DB, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.eng.openDB(), nil
}

// openDB commits (with the consistent index) and opens a read view.
func (e *engine) openDB() *DB {
	e.saveIndex()
	return &DB{snap: e.be.Snapshot()}
}

// Size is the view's size in bytes.
func (d *DB) Size() int64 { return d.snap.Size() }

// WriteTo streams the view (a whole bbolt file).
func (d *DB) WriteTo(w io.Writer) (int64, error) { return d.snap.WriteTo(w) }

// Close releases the view.
func (d *DB) Close() error { return d.snap.Close() }

// incomingPath is where SaveIncoming keeps the key space of the snapshot
// at index.
func (s *Store) incomingPath(index uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%016x.db", incomingPrefix, index))
}

// SaveIncoming stores the key space a leader streamed with its snapshot at
// index, durably (raft may persist the snapshot as soon as it sees it).
func (s *Store) SaveIncoming(index uint64, r io.Reader) error {
	final := s.incomingPath(index)
	f, err := os.CreateTemp(s.dir, incomingPrefix+"*.tmp")
	if err != nil {
		return fmt.Errorf("kv: create incoming snapshot file: %w", err)
	}
	// The transport's reader hands over each chunk as received (it is an
	// io.WriterTo, and needs no copy buffer); other readers are copied in
	// large writes (os.File's own ReadFrom would copy 32 KiB at a time).
	dst := &writebackFile{f: f}
	var werr error
	if wt, ok := r.(io.WriterTo); ok {
		_, werr = wt.WriteTo(dst)
	} else {
		_, werr = io.CopyBuffer(dst, r, make([]byte, 1<<20))
	}
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return errors.Join(fmt.Errorf("kv: receive snapshot %d: %w", index, err), os.Remove(f.Name()))
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return errors.Join(fmt.Errorf("kv: receive snapshot %d: %w", index, err), os.Remove(f.Name()))
	}
	// Older received files stay until a snapshot is installed: raft may
	// still be installing one of them.
	return syncDir(s.dir)
}

// writebackBytes is how much a received key space may hold unwritten
// before the kernel is asked to start writing it. Left to itself the
// kernel writes a freshly received file (up to 2 GiB, well under its dirty
// limits on a node with memory) only at the final fsync, after the
// transfer; asking as it arrives overlaps the disk's work with the
// network's. At ~1 GiB that fsync alone took seconds of a new member's
// catch-up.
const writebackBytes = 8 << 20

// writebackFile writes to f and starts writeback of each writebackBytes
// written (startWriteback).
type writebackFile struct {
	f                *os.File
	written, flushed int64
}

func (w *writebackFile) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.written += int64(n)
	if w.written-w.flushed >= writebackBytes {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, err
}

// removeIncoming deletes the received files (and leftover temporaries)
// whose index drop accepts.
func (s *Store) removeIncoming(drop func(index uint64) bool) error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("kv: list store dir: %w", err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, incomingPrefix) {
			continue
		}
		var idx uint64
		if _, err := fmt.Sscanf(name, incomingPrefix+"%016x.db", &idx); err == nil && !drop(idx) {
			continue
		}
		errs = append(errs, os.Remove(filepath.Join(s.dir, name)))
	}
	return errors.Join(errs...)
}

// InstallSnapshot replaces the state with the raft snapshot at (index,
// term) received from the leader: data is its Metadata, and the key space
// is the file SaveIncoming stored for it. A whole snapshot (Snapshot's
// form, from a leader of an earlier version) is restored from data.
func (s *Store) InstallSnapshot(data []byte, index, term uint64) error {
	snap, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	var path string
	if snap.BackendOnDisk {
		path = s.incomingPath(index)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("kv: install snapshot %d: no key space was received for it: %w", index, err)
		}
	} else if path, err = s.writeRestoreFile(snap.Backend); err != nil {
		return err
	}
	if err := s.swapIn(path, snap); err != nil {
		return err
	}
	if err := s.ensureIndex(index, term); err != nil {
		return err
	}
	// A newer file may be arriving for a snapshot raft has not seen yet.
	return s.removeIncoming(func(idx uint64) bool { return idx <= index })
}

// Recover pairs the key space on disk with the raft snapshot a restart
// loaded (data at (index, term); data nil: no snapshot). The file is kept
// when it holds the snapshot's index or more (the WAL replay skips what it
// already holds); else the snapshot's own key space is used: the file
// received for it before a crash, or the whole snapshot's copy (a data
// dir seeded by --restore-from or --force-new-cluster, or written before
// the store was durable).
func (s *Store) Recover(data []byte, index, term uint64) error {
	if data == nil {
		return s.removeIncoming(func(uint64) bool { return true })
	}
	snap, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	path := ""
	switch ci := s.ConsistentIndex(); {
	case ci >= index:
	case !snap.BackendOnDisk:
		if path, err = s.writeRestoreFile(snap.Backend); err != nil {
			return err
		}
	default:
		path = s.incomingPath(index)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("kv: the key space holds entries up to %d, older than the raft snapshot at %d, and the snapshot's own key space is missing: %w", ci, index, err)
		}
		s.lg.Info("Installing the key space received before the restart", zap.Uint64("index", index))
	}
	if err := s.swapIn(path, snap); err != nil {
		return err
	}
	if err := s.ensureIndex(index, term); err != nil {
		return err
	}
	return s.removeIncoming(func(uint64) bool { return true })
}

// ensureIndex makes the file's consistent index at least index, durably: a
// whole snapshot's copy may predate consistent indexes, and a received
// file must not be taken for older than the snapshot at the next start.
func (s *Store) ensureIndex(index, term uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return err
	}
	if s.eng.ci.ConsistentIndex() < index {
		s.eng.ci.SetConsistentIndex(index, term)
	}
	s.eng.saveIndex()
	return nil
}

// discardIfUnindexed removes a bbolt file that records no consistent
// index: the scratch file of a version before the store was durable, or a
// file that crashed before its first commit. Neither holds anything the
// snapshot and the WAL cannot rebuild, and replaying onto it would apply
// entries twice.
func discardIfUnindexed(lg *zap.Logger, path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil // none yet
	}
	cfg := backend.DefaultBackendConfig(lg)
	cfg.Path = path
	be := backend.New(cfg)
	idx, _ := schema.ReadConsistentIndex(be.ReadTx())
	if err := be.Close(); err != nil {
		return fmt.Errorf("kv: check store file: %w", err)
	}
	if idx > 0 {
		return nil
	}
	lg.Info("Discarding a store file with no consistent index; it is rebuilt from the snapshot and the WAL", zap.String("path", path))
	return os.Remove(path)
}

// OpenCopy opens a temporary copy of the store in dir (removed by Close),
// for offline work on a member's state that must leave the member's own
// files untouched (--force-new-cluster replays entries that may never have
// been committed).
func OpenCopy(lg *zap.Logger, dir string) (*Store, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "kv-copy-")
	if err != nil {
		return nil, fmt.Errorf("kv: temp dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, errors.Join(fmt.Errorf("kv: list store dir: %w", err), os.RemoveAll(tmp))
	}
	for _, e := range ents {
		if name := e.Name(); name == backendFile || (strings.HasPrefix(name, incomingPrefix) && strings.HasSuffix(name, ".db")) {
			if err := copyFile(filepath.Join(dir, name), filepath.Join(tmp, name)); err != nil {
				return nil, errors.Join(err, os.RemoveAll(tmp))
			}
		}
	}
	s, err := Open(lg, tmp)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(tmp))
	}
	s.tempDir = true
	return s, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("kv: copy store file: %w", err)
	}
	defer func() { _ = src.Close() }()
	dst, err := os.Create(to)
	if err != nil {
		return fmt.Errorf("kv: copy store file: %w", err)
	}
	_, cerr := io.Copy(dst, src)
	if err := errors.Join(cerr, dst.Close()); err != nil {
		return fmt.Errorf("kv: copy store file: %w", err)
	}
	return nil
}

// Capture is the whole state at one point, taken cheaply (a bbolt read
// transaction and the metadata) so the caller can copy it out later,
// outside whatever it must not stall. Close it when done.
type Capture struct {
	meta *statepb.Snapshot
	db   *DB
}

// OpenCapture captures the state as applied now.
func (s *Store) OpenCapture() (*Capture, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	meta, err := s.metadataLocked()
	if err != nil {
		return nil, err
	}
	return &Capture{meta: meta, db: s.eng.openDB()}, nil
}

// Whole is the captured state in Snapshot's form.
func (c *Capture) Whole() ([]byte, error) {
	var be bytes.Buffer
	be.Grow(int(c.db.Size()))
	if _, err := c.db.WriteTo(&be); err != nil {
		return nil, fmt.Errorf("kv: copy backend: %w", err)
	}
	snap := proto.Clone(c.meta).(*statepb.Snapshot)
	snap.Backend = be.Bytes()
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Close releases the capture.
func (c *Capture) Close() error { return c.db.Close() }
