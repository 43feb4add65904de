// Package storage keeps a node's raft log and snapshots durable.
//
// It reuses etcd's own write-ahead log (go.etcd.io/etcd/server/v3/storage/wal)
// and snapshot files (go.etcd.io/etcd/server/v3/etcdserver/api/snap) rather
// than a hand-written log: they carry a decade of production fixes that a new
// log would have to rediscover — CRC-chained, 8-byte-aligned records, torn
// tail repair, segment preallocation, fdatasync of the file and its
// directory (etcd #6368, #6378), and the rule that a WAL snapshot record
// never exists without its snapshot file. WAL.Save fsyncs only when raft
// says MustSync, so one Ready costs at most one fsync.
//
// The in-memory raft.MemoryStorage is rebuilt from disk on every start, as
// in etcd's raftexample. The node's state machine lives in memory; its only
// durable form is the snapshot (whose metadata carries the applied index and
// the ConfState) plus the WAL after it, so the applied index is persisted
// atomically with the state and a restart replays only the entries after
// the snapshot. The WAL metadata records the cluster and member IDs, which
// the node checks on restart (fencing).
//
// Layout: <data-dir>/member/wal/*.wal and <data-dir>/member/snap/*.snap.
package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// keepSnapFiles is how many snapshot files survive a Release; older ones
// are deleted. Two, so a corrupt newest file leaves a fallback — and the
// WAL is released only up to the oldest kept snapshot, since a fallback
// snapshot is useless without the entries after it (issue 8 item 15).
const keepSnapFiles = 2

// syncDir fsyncs a directory, so the names created in it survive a power
// cut; a variable so a test can see it called.
var syncDir = func(path string) error {
	d, err := fileutil.OpenDir(path)
	if err != nil {
		return err
	}
	if err := fileutil.Fsync(d); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// Metadata identifies whose data this is; it is written once, when the WAL
// is created.
type Metadata struct {
	ClusterID uint64 `json:"clusterID"`
	MemberID  uint64 `json:"memberID"`
	Name      string `json:"name"`
	// Token is the --initial-cluster-token the member was created with.
	Token string `json:"token,omitempty"`
	// Seed says how a data dir that was not bootstrapped from the initial
	// cluster came to be: "restore:<sha256 of the file>" or
	// "force:<force id>" (seed.go). Empty for a bootstrapped or joined one.
	Seed string `json:"seed,omitempty"`
}

// Loaded is what Open read back from disk.
type Loaded struct {
	Metadata Metadata
	// Snapshot is the newest snapshot the WAL references, or nil.
	Snapshot  *raftpb.Snapshot
	HardState *raftpb.HardState
	// Entries are the WAL's entries after the snapshot.
	Entries []*raftpb.Entry
}

// Storage is an open WAL plus its snapshot directory.
type Storage struct {
	lg          *zap.Logger
	walDir      string
	snapDir     string
	wal         *wal.WAL
	snapshotter *snap.Snapshotter
}

func walDir(dataDir string) string  { return filepath.Join(dataDir, "member", "wal") }
func snapDir(dataDir string) string { return filepath.Join(dataDir, "member", "snap") }

// Exists tells whether dataDir holds a WAL.
func Exists(dataDir string) bool { return wal.Exist(walDir(dataDir)) }

// Create makes a new, empty WAL recording md.
func Create(lg *zap.Logger, dataDir string, md Metadata) (*Storage, error) {
	if err := fileutil.TouchDirAll(lg, snapDir(dataDir)); err != nil {
		return nil, fmt.Errorf("storage: create snap dir: %w", err)
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("storage: marshal metadata: %w", err)
	}
	w, err := wal.Create(lg, walDir(dataDir), b)
	if err != nil {
		return nil, fmt.Errorf("storage: create WAL: %w", err)
	}
	return &Storage{lg: lg, walDir: walDir(dataDir), snapDir: snapDir(dataDir), wal: w, snapshotter: snap.New(lg, snapDir(dataDir))}, nil
}

// Open opens an existing WAL at its newest usable snapshot and reads it
// to the end (the WAL requires that before appending).
func Open(lg *zap.Logger, dataDir string) (*Storage, *Loaded, error) {
	s := &Storage{lg: lg, walDir: walDir(dataDir), snapDir: snapDir(dataDir), snapshotter: snap.New(lg, snapDir(dataDir))}
	if err := fileutil.TouchDirAll(lg, s.snapDir); err != nil {
		return nil, nil, fmt.Errorf("storage: snap dir: %w", err)
	}
	walSnaps, err := wal.ValidSnapshotEntries(lg, s.walDir)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: list WAL snapshots: %w", err)
	}
	// The newest snapshot file that the WAL also records: a snapshot file
	// written just before a crash, without its WAL record, is ignored.
	snapshot, err := s.snapshotter.LoadNewestAvailable(walSnaps)
	if err != nil && !errors.Is(err, snap.ErrNoSnapshot) {
		return nil, nil, fmt.Errorf("storage: load snapshot: %w", err)
	}
	walSnap := &walpb.Snapshot{}
	if snapshot != nil {
		walSnap = &walpb.Snapshot{Index: new(snapshot.Metadata.GetIndex()), Term: new(snapshot.Metadata.GetTerm()), ConfState: snapshot.Metadata.ConfState}
	}
	loaded, err := s.openWAL(walSnap)
	if err != nil {
		return nil, nil, err
	}
	loaded.Snapshot = snapshot
	return s, loaded, nil
}

// openWAL opens and reads the WAL. A torn last record (a crash
// mid-write) is cut off once, as etcd does; if reading still fails, the
// damage is elsewhere (Repair only mends the last segment) and Open fails
// rather than repair in a loop.
func (s *Storage) openWAL(walSnap *walpb.Snapshot) (*Loaded, error) {
	for repaired := false; ; repaired = true {
		w, err := wal.Open(s.lg, s.walDir, walSnap)
		if err != nil {
			return nil, fmt.Errorf("storage: open WAL: %w", err)
		}
		meta, hs, ents, err := w.ReadAll()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			if cerr := w.Close(); cerr != nil {
				return nil, fmt.Errorf("storage: close WAL for repair: %w", cerr)
			}
			if repaired {
				return nil, fmt.Errorf("storage: WAL still unreadable after one repair (damage outside its last record; restore the member from a peer): %w", err)
			}
			if !wal.Repair(s.lg, s.walDir) {
				return nil, fmt.Errorf("storage: WAL is corrupt and cannot be repaired: %w", err)
			}
			continue
		}
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("storage: read WAL: %w", err)
		}
		var md Metadata
		if err := json.Unmarshal(meta, &md); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("storage: WAL metadata: %w", err)
		}
		s.wal = w
		return &Loaded{Metadata: md, HardState: hs, Entries: ents}, nil
	}
}

// Save appends entries and the hard state; it fsyncs when raft.MustSync
// says so (new entries, or a term or vote change).
func (s *Storage) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	return s.wal.Save(hs, ents)
}

// SaveSnap makes snapshot durable: the snapshot file first, then its WAL
// record (which fsyncs). The other order could leave a WAL record naming a
// missing file; this order can only orphan a file, which Open ignores.
func (s *Storage) SaveSnap(snapshot *raftpb.Snapshot) error {
	if raft.IsEmptySnap(snapshot) {
		return nil
	}
	if err := s.snapshotter.SaveSnap(snapshot); err != nil {
		return fmt.Errorf("storage: save snapshot file: %w", err)
	}
	// The snapshotter fsyncs the file, not its name (etcd does the same
	// and relies on the WAL's fsync; on other filesystems than ext4 that
	// is not enough).
	if err := syncDir(s.snapDir); err != nil {
		return fmt.Errorf("storage: sync snap dir: %w", err)
	}
	md := snapshot.Metadata
	rec := &walpb.Snapshot{Index: new(md.GetIndex()), Term: new(md.GetTerm()), ConfState: md.ConfState}
	if err := s.wal.SaveSnapshot(rec); err != nil {
		return fmt.Errorf("storage: save WAL snapshot record: %w", err)
	}
	return nil
}

// Sync forces an fsync of the WAL (needed before releasing old WAL files
// after a snapshot, etcd #10219).
func (s *Storage) Sync() error { return s.wal.Sync() }

// Release lets WAL segments and snapshot files older than the fallback
// go: all but the newest keepSnapFiles snapshot files are removed, and the
// WAL unlocks and deletes the segments before the oldest kept snapshot, so
// every kept snapshot can still be loaded with the entries after it.
func (s *Storage) Release(snapshot *raftpb.Snapshot) error {
	oldest, err := s.purgeSnaps()
	if err != nil {
		return err
	}
	upTo := snapshot.Metadata.GetIndex()
	if oldest != 0 && oldest < upTo {
		upTo = oldest
	}
	if err := s.wal.ReleaseLockTo(upTo); err != nil {
		return fmt.Errorf("storage: release WAL: %w", err)
	}
	return s.purgeWAL()
}

// purgeWAL deletes the segments the WAL no longer locks (all but the one
// holding the snapshot record and the newer ones): a lock that we can take
// means the WAL released it.
func (s *Storage) purgeWAL() error {
	names, err := fileutil.ReadDir(s.walDir, fileutil.WithExt(".wal"))
	if err != nil {
		return fmt.Errorf("storage: list WAL: %w", err)
	}
	for _, name := range names[:max(0, len(names)-1)] {
		p := filepath.Join(s.walDir, name)
		l, err := fileutil.TryLockFile(p, os.O_WRONLY, fileutil.PrivateFileMode)
		if err != nil {
			// Still locked: this and every newer segment are in use.
			return nil
		}
		rmErr := os.Remove(p)
		if cerr := l.Close(); cerr != nil && rmErr == nil {
			rmErr = cerr
		}
		if rmErr != nil {
			return fmt.Errorf("storage: purge WAL segment %s: %w", name, rmErr)
		}
	}
	return nil
}

// purgeSnaps deletes all but the newest keepSnapFiles snapshot files and
// returns the index of the oldest one kept (0: none).
func (s *Storage) purgeSnaps() (uint64, error) {
	entries, err := os.ReadDir(s.snapDir)
	if err != nil {
		return 0, fmt.Errorf("storage: list snapshots: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".snap") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // term-index hex names sort in age order
	cut := max(0, len(names)-keepSnapFiles)
	for _, name := range names[:cut] {
		if err := os.Remove(filepath.Join(s.snapDir, name)); err != nil {
			return 0, fmt.Errorf("storage: purge snapshot %s: %w", name, err)
		}
	}
	if cut == len(names) {
		return 0, nil
	}
	var term, index uint64
	if _, err := fmt.Sscanf(names[cut], "%016x-%016x.snap", &term, &index); err != nil {
		return 0, fmt.Errorf("storage: snapshot file name %s: %w", names[cut], err)
	}
	return index, nil
}

// Close closes the WAL.
func (s *Storage) Close() error { return s.wal.Close() }

// DiskSize is the bytes used by the WAL and snapshot files.
func DiskSize(dataDir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(filepath.Join(dataDir, "member"), func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// NewMemoryStorage rebuilds raft's in-memory log from what Open read.
func NewMemoryStorage(l *Loaded) (*raft.MemoryStorage, error) {
	ms := raft.NewMemoryStorage()
	if l == nil {
		return ms, nil
	}
	if l.Snapshot != nil {
		if err := ms.ApplySnapshot(l.Snapshot); err != nil {
			return nil, fmt.Errorf("storage: apply snapshot: %w", err)
		}
	}
	if l.HardState != nil {
		if err := ms.SetHardState(l.HardState); err != nil {
			return nil, fmt.Errorf("storage: set hard state: %w", err)
		}
	}
	if err := ms.Append(l.Entries); err != nil {
		return nil, fmt.Errorf("storage: append entries: %w", err)
	}
	return ms, nil
}
