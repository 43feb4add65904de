package raftnode

import (
	"errors"
	"fmt"
	"os"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/snapfile"
	"github.com/kuberaft/kuberaft/node/storage"
)

// seedTerm is the raft term a restored cluster starts at: its log is new,
// so any term works; the first election moves it on.
const seedTerm = 1

// seedBeforeOpen runs before the data dir and the store are opened: --restore-from and
// --force-new-cluster each write a new data dir (storage.Seed) that the
// normal restart path then opens. Both are one-shot: the data dir records
// what seeded it (Metadata.Seed), and a restart with the same flag and
// the same file / force ID is an ordinary restart.
func (n *Node) seedBeforeOpen() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("raftnode: data dir: %w", err)
	}
	if err := storage.RecoverSeed(n.lg, n.cfg.DataDir); err != nil {
		return err
	}
	switch {
	case n.cfg.RestoreFrom != "":
		return n.seedFromFile()
	case n.cfg.ForceNewCluster:
		return n.forceNewCluster()
	}
	return nil
}

// seedFromFile boots a new single-member cluster from a snapshot file,
// under a new random cluster ID and member ID; every member of the source
// cluster is recorded as removed. It refuses a corrupt or truncated file,
// and a data dir that already holds other data.
func (n *Node) seedFromFile() error {
	data, err := os.ReadFile(n.cfg.RestoreFrom)
	if err != nil {
		return fmt.Errorf("raftnode: --restore-from: %w", err)
	}
	seed := fileSeed(data)
	if storage.Exists(n.cfg.DataDir) {
		md, err := readMetadata(n.lg, n.cfg.DataDir)
		if err != nil {
			return err
		}
		if md.Seed == seed {
			n.lg.Info("Data dir was already restored from this file; restarting normally", zap.String("file", n.cfg.RestoreFrom))
			return nil
		}
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("--restore-from %s: the data dir already holds data; restore only seeds an empty data dir", n.cfg.RestoreFrom)}
	}
	info, state, err := snapfile.Read(data)
	if err != nil {
		return fmt.Errorf("raftnode: --restore-from %s: %w", n.cfg.RestoreFrom, err)
	}
	store, err := kv.NewIn(n.cfg.DataDir)
	if err != nil {
		return err
	}
	defer closeStore(n.lg, store)
	if err := store.Restore(state); err != nil {
		return fmt.Errorf("raftnode: --restore-from %s: %w: %w", n.cfg.RestoreFrom, snapfile.ErrCorrupt, err)
	}
	memberID, err := randomID()
	if err != nil {
		return err
	}
	clusterID, err := randomID()
	if err != nil {
		return err
	}
	n.lg.Info("Restoring a new cluster from a snapshot file", zap.String("file", n.cfg.RestoreFrom),
		zap.Uint64("applied-index", info.AppliedIndex), zap.Int64("revision", info.Revision),
		zap.String("source-cluster", fmt.Sprintf("%x", info.ClusterID)), zap.String("new-cluster", fmt.Sprintf("%x", clusterID)))
	self := &statepb.Member{Id: memberID, Name: n.cfg.Name, PeerUrls: n.cfg.AdvertisePeerURLs}
	return n.writeSeed(store, self, clusterID, max(info.AppliedIndex, 1), seedTerm, seed)
}

// forceNewCluster is etcd's --force-new-cluster: this member keeps its
// state and restarts as the only voter of a new cluster ID, so the old
// peers' messages are refused and they cannot rejoin.
//
// Unlike etcd, it keeps the whole log, not only the entries up to the
// persisted commit index: a follower persists the commit index lazily
// (raft's MustSync ignores it), so entries a quorum committed and clients
// saw acknowledged are routinely past it after a crash; discarding them
// loses acknowledged writes (the proctest force test did, before). The
// price is that an entry that was never committed may become committed:
// its client saw no acknowledgement (a timeout), which etcd's clients
// already treat as "may have happened".
func (n *Node) forceNewCluster() error {
	if !storage.Exists(n.cfg.DataDir) {
		return errors.New("raftnode: --force-new-cluster: the data dir is empty; there is nothing to recover")
	}
	seed := forceSeed(n.cfg.ForceID)
	disk, loaded, err := storage.Open(n.lg, n.cfg.DataDir)
	if err != nil {
		return err
	}
	if loaded.Metadata.Seed == seed {
		n.lg.Info("Data dir was already forced with this force ID; restarting normally (drop --force-new-cluster)", zap.String("force-id", n.cfg.ForceID))
		return disk.Close()
	}
	store, index, term, err := replayLog(n.lg, storeDir(n.cfg.DataDir), loaded)
	if cerr := disk.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if store != nil {
			closeStore(n.lg, store)
		}
		return err
	}
	defer closeStore(n.lg, store)
	clusterID, err := randomID()
	if err != nil {
		return err
	}
	md := loaded.Metadata
	self, ok := store.Member(md.MemberID)
	if !ok {
		self = &statepb.Member{Id: md.MemberID, Name: n.cfg.Name, PeerUrls: n.cfg.AdvertisePeerURLs}
	}
	n.lg.Warn("Forcing a new cluster from this member's data", zap.Uint64("last-index", index),
		zap.Uint64("persisted-commit-index", loaded.HardState.GetCommit()),
		zap.String("old-cluster", fmt.Sprintf("%x", md.ClusterID)), zap.String("new-cluster", fmt.Sprintf("%x", clusterID)))
	return n.writeSeed(store, self, clusterID, index, term, seed)
}

// writeSeed reseeds store around self and writes it as the data dir.
func (n *Node) writeSeed(store *kv.Store, self *statepb.Member, clusterID, index, term uint64, seed string) error {
	store.Reseed(self, clusterID)
	state, err := store.Snapshot()
	if err != nil {
		return err
	}
	md := storage.Metadata{ClusterID: clusterID, MemberID: self.Id, Name: n.cfg.Name, Token: n.cfg.InitialClusterToken, Seed: seed}
	return storage.Seed(n.lg, n.cfg.DataDir, md, seedSnapshot(state, index, term, self.Id))
}

// replayLog rebuilds the state machine from a data dir, offline, on a copy
// of the member's store (in kvDir): the snapshot, then every WAL entry
// after it (see forceNewCluster for why not only the committed ones).
func replayLog(lg *zap.Logger, kvDir string, loaded *storage.Loaded) (*kv.Store, uint64, uint64, error) {
	store, err := kv.OpenCopy(lg, kvDir)
	if err != nil {
		return nil, 0, 0, err
	}
	index, term := uint64(0), uint64(0)
	if loaded.Snapshot != nil {
		index, term = loaded.Snapshot.Metadata.GetIndex(), loaded.Snapshot.Metadata.GetTerm()
		if err := store.Recover(loaded.Snapshot.Data, index, term); err != nil {
			return nil, 0, 0, errors.Join(err, store.Close())
		}
	}
	for _, e := range loaded.Entries {
		if e.GetIndex() <= index {
			continue
		}
		replayEntry(lg, store, e)
		index, term = e.GetIndex(), e.GetTerm()
	}
	if index == 0 {
		return nil, 0, 0, errors.Join(errors.New("raftnode: --force-new-cluster: this member has no entry to recover"), store.Close())
	}
	return store, index, max(term, loaded.HardState.GetTerm()), nil
}

// replayEntry applies one committed entry as the Ready loop would have
// (undecodable or refused entries are skipped alike).
func replayEntry(lg *zap.Logger, store *kv.Store, e *raftpb.Entry) {
	defer store.MarkApplied(e.GetIndex(), e.GetTerm())
	if e.GetType() != raftpb.EntryType_EntryNormal {
		if cc, added, _, err := decodeConfChange(e); err == nil {
			_ = store.ApplyConfChange(cc, added) // refused changes were cancelled
		}
		return
	}
	if len(e.Data) == 0 {
		return
	}
	cmd := &statepb.Command{}
	if err := proto.Unmarshal(e.Data, cmd); err != nil {
		lg.Warn("Skipping undecodable entry in replay", zap.Uint64("index", e.GetIndex()))
		return
	}
	store.ApplyEntry(e.GetIndex(), e.GetTerm(), cmd)
}

// readMetadata reads a data dir's WAL metadata (opening and closing it).
func readMetadata(lg *zap.Logger, dataDir string) (storage.Metadata, error) {
	disk, loaded, err := storage.Open(lg, dataDir)
	if err != nil {
		return storage.Metadata{}, err
	}
	return loaded.Metadata, disk.Close()
}

// closeStore closes a store used offline for a seed (its scratch files are
// temporary; a failure to remove them is logged, not fatal).
func closeStore(lg *zap.Logger, store *kv.Store) {
	if err := store.Close(); err != nil {
		lg.Warn("Cannot close the temporary store of a seed", zap.Error(err))
	}
}
