package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// Names of the directories a seed goes through, next to member/.
const (
	seedDirName  = "member.seed"  // the new data being written
	priorDirName = "member.prior" // the old data while it is swapped out
)

// Seed replaces dataDir's member directory (if any) with a new WAL
// recording md whose only content is snap (a state machine snapshot at
// its index, with its ConfState) and a hard state committing it. This is
// how --restore-from and --force-new-cluster create a data dir that raft
// then restarts from as usual.
//
// Crash safety: the new data is written and fsynced in member.seed, the
// old member is renamed to member.prior, member.seed to member, then
// member.prior is removed. RecoverSeed, called before Exists on every
// start, undoes a swap cut in its middle (member.prior without member),
// so a crash leaves either the old or the new data dir, never none.
func Seed(lg *zap.Logger, dataDir string, md Metadata, snap *raftpb.Snapshot) error {
	seedData := filepath.Join(dataDir, seedDirName)
	if err := os.RemoveAll(seedData); err != nil {
		return fmt.Errorf("storage: clear %s: %w", seedDirName, err)
	}
	s, err := Create(lg, seedData, md)
	if err != nil {
		return err
	}
	hs := &raftpb.HardState{Term: snap.Metadata.Term, Commit: snap.Metadata.Index}
	err = errors.Join(s.SaveSnap(snap), s.Save(hs, nil), s.Sync())
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: seed: %w", err)
	}
	return swapIn(dataDir, filepath.Join(seedData, "member"))
}

// swapIn makes newMember dataDir's member directory (see Seed).
func swapIn(dataDir, newMember string) error {
	member, prior := filepath.Join(dataDir, "member"), filepath.Join(dataDir, priorDirName)
	if _, err := os.Stat(member); err == nil {
		if err := os.Rename(member, prior); err != nil {
			return fmt.Errorf("storage: move old data aside: %w", err)
		}
	}
	if err := os.Rename(newMember, member); err != nil {
		return fmt.Errorf("storage: install seeded data: %w", err)
	}
	// The renames must be durable before the old data goes.
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("storage: fsync data dir: %w", err)
	}
	if err := os.RemoveAll(prior); err != nil {
		return fmt.Errorf("storage: remove old data: %w", err)
	}
	return os.RemoveAll(filepath.Join(dataDir, seedDirName))
}

// RecoverSeed finishes or undoes a Seed that a crash cut short: with
// member.prior but no member, the old data goes back (the seed is then
// redone from scratch by whoever asked for it); a leftover member.prior
// next to member (the swap happened) and a half-written member.seed are
// removed.
func RecoverSeed(lg *zap.Logger, dataDir string) error {
	member, prior := filepath.Join(dataDir, "member"), filepath.Join(dataDir, priorDirName)
	if _, err := os.Stat(prior); err == nil {
		if _, err := os.Stat(member); errors.Is(err, os.ErrNotExist) {
			lg.Warn("Undoing an interrupted seed: restoring the previous data", zap.String("data-dir", dataDir))
			if err := os.Rename(prior, member); err != nil {
				return fmt.Errorf("storage: undo interrupted seed: %w", err)
			}
		}
	}
	if err := os.RemoveAll(prior); err != nil {
		return fmt.Errorf("storage: remove %s: %w", priorDirName, err)
	}
	if err := os.RemoveAll(filepath.Join(dataDir, seedDirName)); err != nil {
		return fmt.Errorf("storage: remove %s: %w", seedDirName, err)
	}
	return nil
}
