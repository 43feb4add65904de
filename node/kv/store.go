package kv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Store is the state machine. The zero value is not usable; call Open or
// New, and Close when done.
type Store struct {
	lg  *zap.Logger
	dir string
	// tempDir is set when New made dir and Close must remove it.
	tempDir bool

	// mu guards the metadata below and the engine pointer: Restore swaps
	// the engine under the write lock, so a reader holding the read lock
	// never sees a closed one. The engine has its own locking.
	mu  sync.RWMutex
	eng *engine
	// closed is set by Close: later calls get ErrStopped instead of
	// touching a closed bbolt file (gRPC reads can outlive the node).
	closed bool
	// compacted holds the done channel of the latest compaction.
	compacted atomic.Pointer[<-chan struct{}]

	alarms    map[alarmKey]struct{}
	sessions  *sessionTable
	members   map[uint64]*statepb.Member
	removed   map[uint64]bool
	gone      map[uint64]*statepb.Member // metadata of removed members
	clusterID uint64
}

// Open opens the store whose files live in dir, creating an empty one when
// there is none. The key space is as durable as its last commit (see
// engine); the metadata starts empty until Recover or Restore sets it from
// a raft snapshot.
func Open(lg *zap.Logger, dir string) (*Store, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	if err := discardIfUnindexed(lg, filepath.Join(dir, backendFile)); err != nil {
		return nil, err
	}
	eng, err := openEngine(lg, filepath.Join(dir, backendFile))
	if err != nil {
		return nil, err
	}
	return &Store{
		lg: lg, dir: dir, eng: eng,
		sessions: newSessionTable(),
		alarms:   map[alarmKey]struct{}{},
		members:  map[uint64]*statepb.Member{},
		removed:  map[uint64]bool{},
		gone:     map[uint64]*statepb.Member{},
	}, nil
}

// New returns an empty store in a fresh temporary directory, removed by
// Close (for tests and tools).
func New() (*Store, error) { return NewIn("") }

// NewIn is New with the temporary directory under parent ("" : the
// system's): a node puts it in its data dir, since its root file system
// may be read-only and /tmp small or in memory.
func NewIn(parent string) (*Store, error) {
	dir, err := os.MkdirTemp(parent, "kuberaft-kv-")
	if err != nil {
		return nil, fmt.Errorf("kv: temp dir: %w", err)
	}
	s, err := Open(nil, dir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s.tempDir = true
	return s, nil
}

// Close stops the store and releases its files.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.eng.close()
	if s.tempDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// Revision is the current store revision (an empty store is at 1).
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.eng.kv.Rev()
}

// CompactRevision is the revision of the last compaction (0: none).
func (s *Store) CompactRevision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.compactRevLocked()
}

func (s *Store) compactRevLocked() int64 {
	r := s.eng.kv.Read(mvcc.ConcurrentReadTxMode, traceutil.TODO())
	defer r.End()
	return max(r.FirstRev(), 0)
}

// Len is the number of keys at the current revision.
func (s *Store) Len() int {
	resp, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true})
	if err != nil {
		return 0
	}
	return int(resp.Count)
}

// Snapshot serialises the whole state: the metadata, and a copy of the
// bbolt file (everything applied so far). It is the portable form (backups,
// seeded data dirs); raft snapshots carry only Metadata, see engine.
func (s *Store) Snapshot() ([]byte, error) {
	c, err := s.OpenCapture()
	if err != nil {
		return nil, err
	}
	whole, err := c.Whole()
	return whole, errors.Join(err, c.Close())
}

// metadataLocked is the snapshot without the backend. Caller holds mu.
func (s *Store) metadataLocked() (*statepb.Snapshot, error) {
	snap := &statepb.Snapshot{ClusterId: s.clusterID, Sessions: s.sessions.all(), Members: s.membersLocked()}
	var err error
	if snap.Alarms, err = marshalAlarms(s.alarmsLocked()); err != nil {
		return nil, err
	}
	for id := range s.removed {
		snap.Removed = append(snap.Removed, id)
	}
	sort.Slice(snap.Removed, func(i, j int) bool { return snap.Removed[i] < snap.Removed[j] })
	for _, id := range snap.Removed {
		if m := s.gone[id]; m != nil {
			snap.RemovedMembers = append(snap.RemovedMembers, m)
		}
	}
	return snap, nil
}

// Restore replaces the whole state with a Snapshot's. The bbolt copy
// becomes the new backend of the same lessor and MVCC store (etcd's
// applySnapshot: lessor.Recover, then kv.Restore), so watchers registered
// on the store survive and resume from the restored revision.
func (s *Store) Restore(data []byte) error {
	snap, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	if snap.BackendOnDisk {
		return errors.New("kv: Restore needs a whole snapshot; this one has only the metadata (use Recover or InstallSnapshot)")
	}
	path, err := s.writeRestoreFile(snap.Backend)
	if err != nil {
		return err
	}
	return s.swapIn(path, snap)
}

// decodeSnapshot decodes a Snapshot or Metadata and refuses the format
// that predates the MVCC store.
func decodeSnapshot(data []byte) (*statepb.Snapshot, error) {
	snap := &statepb.Snapshot{}
	if err := proto.Unmarshal(data, snap); err != nil {
		return nil, fmt.Errorf("kv: unmarshal snapshot: %w", err)
	}
	if len(snap.Backend) == 0 && !snap.BackendOnDisk && (len(snap.Kvs) > 0 || snap.Revision > 1) {
		return nil, errors.New("kv: snapshot in the pre-MVCC format (no backend); see docs/node.md, Data dir format")
	}
	return snap, nil
}

// swapIn makes the bbolt file at path the key space (path "": keep the
// current one) and snap's metadata the rest of the state.
func (s *Store) swapIn(path string, snap *statepb.Snapshot) error {
	alarms, err := unmarshalAlarms(snap.Alarms)
	if err != nil {
		return err
	}
	sessions := newSessionTable()
	for _, se := range snap.Sessions { // oldest first: keeps the LRU order
		sessions.put(se)
	}
	members, removed, gone := map[uint64]*statepb.Member{}, map[uint64]bool{}, map[uint64]*statepb.Member{}
	for _, m := range snap.Members {
		members[m.Id] = m
	}
	for _, id := range snap.Removed {
		removed[id] = true
	}
	for _, m := range snap.RemovedMembers {
		gone[m.Id] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		if path != "" {
			err = errors.Join(err, os.Remove(path))
		}
		return err
	}
	if path != "" {
		if err := s.replaceBackendLocked(path); err != nil {
			return err
		}
	}
	s.alarms, s.sessions = alarms, sessions
	s.members, s.removed, s.gone, s.clusterID = members, removed, gone, snap.ClusterId
	return nil
}

// replaceBackendLocked renames the bbolt file at path over the store's
// file and makes it the backend. Caller holds mu for writing.
func (s *Store) replaceBackendLocked(path string) error {
	old := s.eng.be
	// The old backend keeps its (now unlinked) file open until closed.
	if err := os.Rename(path, s.eng.path); err != nil {
		return errors.Join(fmt.Errorf("kv: install store file: %w", err), os.Remove(path))
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	if err := s.eng.swapBackend(s.lg, s.eng.path); err != nil {
		return err
	}
	return old.Close()
}

// writeRestoreFile writes a bbolt copy (empty: a fresh store) to a new
// file next to the current one and returns its path.
func (s *Store) writeRestoreFile(backend []byte) (string, error) {
	f, err := os.CreateTemp(s.dir, "restore-*.db")
	if err != nil {
		return "", fmt.Errorf("kv: create restore file: %w", err)
	}
	_, werr := f.Write(backend)
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("kv: write restore file: %w", err)
	}
	if len(backend) == 0 {
		// bbolt creates a fresh file where none exists.
		if err := os.Remove(f.Name()); err != nil {
			return "", fmt.Errorf("kv: reset restore file: %w", err)
		}
	}
	return f.Name(), nil
}

// applyCtx is the context of calls into etcd's packages: they take one for
// tracing only; an applied command is never cancelled halfway.
var applyCtx = context.Background()

// open is called with s.mu held (read or write): it refuses once the store
// is closed.
func (s *Store) open() error {
	if s.closed {
		return nodeerr.ErrStopped
	}
	return nil
}

// Digest is a hash of the replicated state: the metadata, the revision and
// compaction point, and every key at the current revision with its
// revisions, version and lease. Replicas at the same applied index have
// the same digest; their bbolt files need not be byte-identical.
func (s *Store) Digest() ([32]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sum [32]byte
	if err := s.open(); err != nil {
		return sum, err
	}
	meta, err := s.metadataLocked()
	if err != nil {
		return sum, err
	}
	// Sessions count without their recorded results: a replica that
	// replayed an entry after a restart keeps "not kept" where the others
	// kept the response (ApplyEntry); both answer a retry without applying
	// it twice.
	for i, se := range meta.Sessions {
		se = proto.Clone(se).(*statepb.Session)
		se.Result = nil
		meta.Sessions[i] = se
	}
	all, _, err := txn.Range(applyCtx, s.lg, s.eng.kv, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, true)
	if err != nil {
		return sum, translate(err)
	}
	all.Header = &pb.ResponseHeader{Revision: s.eng.kv.Rev(), RaftTerm: uint64(s.compactRevLocked())}
	h := sha256.New()
	for _, m := range []proto.Message{meta, all} {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return sum, fmt.Errorf("kv: digest: %w", err)
		}
		h.Write(b)
	}
	// Leases: ID and granted TTL (remaining TTLs are the leader's clock).
	leases := s.eng.lessor.Leases()
	sort.Slice(leases, func(i, j int) bool { return leases[i].ID < leases[j].ID })
	for _, l := range leases {
		h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(l.ID)), uint64(l.TTL())))
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
