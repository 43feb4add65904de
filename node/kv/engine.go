package kv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coreos/go-semver/semver"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/etcdserver/cindex"
	etcderrors "go.etcd.io/etcd/server/v3/etcdserver/errors"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// engine is the key space: etcd's own storage packages used as libraries
// (server/v3 storage/backend on bbolt, storage/mvcc for revisions, history,
// compaction and watches, lease for the lessor). Reusing them gives etcd's
// exact semantics, and state on disk instead of in the heap, for much less
// code than our own MVCC would need (docs/node.md, "State machine").
//
// The bbolt file is durable, as etcd's: every commit is fsynced and
// records the consistent index (the last raft entry whose effects it
// holds; etcd's cindex package, saved by its backend hooks). A restart
// opens the file as it is and replays only the WAL entries after that
// index into it (see Store.ApplyEntry), so neither a restart nor a raft
// snapshot copies or re-encodes the key space: raft snapshots carry only
// the small metadata (Store.Metadata), and a follower that needs the key
// space gets the file streamed (Store.OpenDB, Store.SaveIncoming).
type engine struct {
	path   string
	be     backend.Backend
	ci     cindex.ConsistentIndexer
	lessor lease.Lessor
	kv     mvcc.WatchableKV
}

// minLeaseTTL is the shortest lease TTL granted, in seconds: etcd's
// ceil(1.5 × election timeout) for its 1 s default. A constant, not derived
// from this member's flags: every replica must grant the same TTL.
const minLeaseTTL = 2

// backendFile is the bbolt file's name in the store's directory.
const backendFile = "kv.db"

// clusterVersion satisfies the lessor's cluster interface: ≥ 3.6 makes it
// persist lease checkpoints, as etcd 3.6 does.
type clusterVersion struct{}

func (clusterVersion) Version() *semver.Version { return semver.New("3.6.0") }

// openEngine opens the bbolt file at path (creating it when absent) with a
// lessor and an MVCC store over it. The lessor comes first, so keys
// restored from the file re-attach to their leases (etcd's bootstrap order).
func openEngine(lg *zap.Logger, path string) (*engine, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("kv: create store dir: %w", err)
	}
	_, statErr := os.Stat(path)
	ci := cindex.NewConsistentIndex(nil)
	be := openBackend(lg, path, ci)
	ci.SetBackend(be)
	if os.IsNotExist(statErr) {
		// A new file's directory entry must survive a power cut: once a
		// raft snapshot names an index, the WAL before it is released and
		// this file is the only copy of the key space.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, errors.Join(err, be.Close())
		}
	}
	e := &engine{path: path, be: be, ci: ci}
	be.SetTxPostLockInsideApplyHook(e.postLockInsideApply)
	e.lessor = lease.NewLessor(lg, be, clusterVersion{}, lease.LessorConfig{MinLeaseTTL: minLeaseTTL, CheckpointPersist: true})
	done := relaxGCForRestore() // mvcc.New restores the file's index
	e.kv = mvcc.New(lg, be, e.lessor, mvcc.StoreConfig{})
	done()
	return e, nil
}

// postLockInsideApply runs each time an applied command locks the backend
// for writing (etcd's txPostLockInsideApplyHook): from then on, a commit
// (periodic, or one a delete forces at once) holds some of the entry's
// effects, so it must record the entry as applied; a restart then skips it
// instead of applying it twice.
func (e *engine) postLockInsideApply() {
	idx, term := e.ci.ConsistentApplyingIndex()
	if idx > e.ci.UnsafeConsistentIndex() {
		e.ci.SetConsistentIndex(idx, term)
	}
}

// swapBackend opens the bbolt file at path and makes it the backend of the
// same lessor and MVCC store, in etcd's order (lessor first, so restored
// keys attach to restored leases). The caller closes the old backend.
func (e *engine) swapBackend(lg *zap.Logger, path string) error {
	be := openBackend(lg, path, e.ci)
	be.SetTxPostLockInsideApplyHook(e.postLockInsideApply)
	e.ci.SetBackend(be)
	defer relaxGCForRestore()()
	e.lessor.Recover(be, func() lease.TxnDelete { return e.kv.Write(traceutil.TODO()) })
	if err := e.kv.Restore(be); err != nil {
		return errors.Join(fmt.Errorf("kv: restore store: %w", err), be.Close())
	}
	e.be, e.path = be, path
	return nil
}

// openBackend opens a bbolt file with etcd's commit batching (every 100 ms
// or 10 000 writes, each commit fsynced) and its hooks, which save the
// consistent index in every commit (etcd's storage.BackendHooks minus the
// conf state, which lives in our raft snapshots).
func openBackend(lg *zap.Logger, path string, ci cindex.ConsistentIndexer) backend.Backend {
	cfg := backend.DefaultBackendConfig(lg)
	// etcd's default map (10 GiB of address space, not memory): bbolt
	// maps with MAP_POPULATE, so every remap as the file grows would fault
	// the whole file in and keep it resident; one large map made at open,
	// while the file is small, leaves pages to be faulted in as read, as
	// etcd's are (a smaller map doubled the resident size at ~256 MB).
	cfg.Path = path
	cfg.Hooks = backend.NewHooks(ci.UnsafeSave)
	// etcd's default freelist (--backend-bbolt-freelist-type=map; the
	// library's zero value is the array type): allocating pages from a
	// large freelist, as a store that deletes and compacts builds up, is
	// cheaper in a map than in a sorted array.
	cfg.BackendFreelistType = bolt.FreelistMapType
	return backend.New(cfg)
}

// commit makes everything applied so far durable, with its consistent
// index.
func (e *engine) commit() { e.be.ForceCommit() }

// syncDir fsyncs a directory, so entries created or renamed in it survive
// a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("kv: open dir: %w", err)
	}
	err = d.Sync()
	if err = errors.Join(err, d.Close()); err != nil {
		return fmt.Errorf("kv: sync dir %s: %w", dir, err)
	}
	return nil
}

// close stops the engine: the kv before the backend (etcd's order:
// otherwise a resumed compaction fails), then the lessor.
func (e *engine) close() error {
	e.lessor.Stop()
	err := e.kv.Close()
	return errors.Join(err, e.be.Close())
}

// translate turns the errors of etcd's storage packages into the node's
// sentinels (whose messages are the ones etcd's gRPC layer sends).
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mvcc.ErrCompacted):
		return nodeerr.ErrCompacted
	case errors.Is(err, mvcc.ErrFutureRev):
		return nodeerr.ErrFutureRev
	case errors.Is(err, lease.ErrLeaseNotFound):
		return nodeerr.ErrLeaseNotFound
	case errors.Is(err, etcderrors.ErrKeyNotFound):
		return nodeerr.ErrKeyNotFound
	}
	return err
}
