package storage

import (
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap/zaptest"
)

func entries(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, &raftpb.Entry{Index: new(i), Term: new(term), Data: []byte{byte(i)}})
	}
	return out
}

func TestSaveReopenAndSnapshot(t *testing.T) {
	// Small segments so the test crosses segment boundaries and purges.
	old := wal.SegmentSizeBytes
	wal.SegmentSizeBytes = 16 * 1024
	t.Cleanup(func() { wal.SegmentSizeBytes = old })

	dir := t.TempDir()
	lg := zaptest.NewLogger(t)
	if Exists(dir) {
		t.Fatal("empty dir reported as having a WAL")
	}
	md := Metadata{ClusterID: 7, MemberID: 9, Name: "n1"}
	s, err := Create(lg, dir, md)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1024)
	for i := uint64(1); i <= 100; i++ {
		e := &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Data: big}
		if err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(i)}, []*raftpb.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	cs := &raftpb.ConfState{Voters: []uint64{9}}
	snapshot := &raftpb.Snapshot{Data: []byte("state"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(90)), Term: new(uint64(1)), ConfState: cs}}
	if err := s.SaveSnap(snapshot); err != nil {
		t.Fatal(err)
	}
	before, err := DiskSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(snapshot); err != nil {
		t.Fatal(err)
	}
	after, err := DiskSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Fatalf("release did not shrink the data dir: %d -> %d bytes", before, after)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, loaded, err := Open(lg, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if loaded.Metadata != md {
		t.Fatalf("metadata %+v, want %+v", loaded.Metadata, md)
	}
	if loaded.Snapshot == nil || loaded.Snapshot.Metadata.GetIndex() != 90 || string(loaded.Snapshot.Data) != "state" {
		t.Fatalf("snapshot %v, want index 90", loaded.Snapshot)
	}
	if len(loaded.Entries) != 10 || loaded.Entries[0].GetIndex() != 91 || loaded.HardState.GetCommit() != 100 {
		t.Fatalf("entries %d from %d commit %d; want 10 from 91, commit 100", len(loaded.Entries), loaded.Entries[0].GetIndex(), loaded.HardState.GetCommit())
	}
	ms, err := NewMemoryStorage(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := ms.FirstIndex(); first != 91 {
		t.Fatalf("memory storage first index %d, want 91", first)
	}
	if last, _ := ms.LastIndex(); last != 100 {
		t.Fatalf("memory storage last index %d, want 100", last)
	}
}

func TestOverwriteConflictingEntries(t *testing.T) {
	dir := t.TempDir()
	lg := zaptest.NewLogger(t)
	s, err := Create(lg, dir, Metadata{MemberID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&raftpb.HardState{Term: new(uint64(1))}, entries(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	// A new leader's log replaces our tail from index 4.
	if err := s.Save(&raftpb.HardState{Term: new(uint64(2)), Commit: new(uint64(4))}, entries(4, 4, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, loaded, err := Open(lg, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if len(loaded.Entries) != 4 || loaded.Entries[3].GetTerm() != 2 {
		t.Fatalf("entries %v, want 4 with the last at term 2", loaded.Entries)
	}
}
