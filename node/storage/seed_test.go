package storage

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap/zaptest"
)

func seedSnap(index uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{Data: []byte("state"), Metadata: &raftpb.SnapshotMetadata{
		Index: new(index), Term: new(uint64(3)), ConfState: &raftpb.ConfState{Voters: []uint64{42}}}}
}

// TestSeedReplacesTheDataDir: an existing WAL is replaced by one holding
// only the seed snapshot, under the new metadata, committed.
func TestSeedReplacesTheDataDir(t *testing.T) {
	dir, lg := t.TempDir(), zaptest.NewLogger(t)
	s, err := Create(lg, dir, Metadata{ClusterID: 1, MemberID: 2, Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(5))}, entries(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	md := Metadata{ClusterID: 10, MemberID: 42, Name: "new", Seed: "force:x"}
	if err := Seed(lg, dir, md, seedSnap(77)); err != nil {
		t.Fatal(err)
	}
	s, loaded, err := Open(lg, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if loaded.Metadata != md || loaded.Snapshot == nil || loaded.Snapshot.Metadata.GetIndex() != 77 ||
		string(loaded.Snapshot.Data) != "state" || len(loaded.Entries) != 0 || loaded.HardState.GetCommit() != 77 {
		t.Fatalf("reopened %+v snapshot %v entries %d hs %v", loaded.Metadata, loaded.Snapshot, len(loaded.Entries), loaded.HardState)
	}
	for _, leftover := range []string{seedDirName, priorDirName} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", leftover, err)
		}
	}
}

// TestRecoverSeedAfterACrash: each state a crash inside Seed can leave
// resolves to exactly one member directory, old or new.
func TestRecoverSeedAfterACrash(t *testing.T) {
	for _, tt := range []struct {
		name       string
		dirs       []string // directories present after the crash
		wantMember string   // marker file expected in member/
	}{
		{"crash while writing the seed", []string{"member/old", seedDirName + "/member/new"}, "old"},
		{"crash after moving the old data aside", []string{priorDirName + "/old", seedDirName + "/member/new"}, "old"},
		{"crash after the swap", []string{"member/new", priorDirName + "/old"}, "new"},
		{"nothing interrupted", []string{"member/old"}, "old"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := RecoverSeed(zaptest.NewLogger(t), dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "member", tt.wantMember)); err != nil {
				t.Fatalf("member/ is not the %s data: %v", tt.wantMember, err)
			}
			for _, leftover := range []string{seedDirName, priorDirName} {
				if _, err := os.Stat(filepath.Join(dir, leftover)); !os.IsNotExist(err) {
					t.Errorf("%s left behind", leftover)
				}
			}
		})
	}
}
