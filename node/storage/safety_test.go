package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap/zaptest"
)

// smallSegments makes the WAL cut a segment every 16 KiB for the test.
func smallSegments(t *testing.T) {
	t.Helper()
	old := wal.SegmentSizeBytes
	wal.SegmentSizeBytes = 16 * 1024
	t.Cleanup(func() { wal.SegmentSizeBytes = old })
}

// saveEntries writes entries lo..hi of 1 KiB each at term 1.
func saveEntries(t *testing.T, s *Storage, lo, hi uint64) {
	t.Helper()
	big := make([]byte, 1024)
	for i := lo; i <= hi; i++ {
		e := &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Data: big}
		if err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(i)}, []*raftpb.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
}

func snapAt(idx uint64, data string) *raftpb.Snapshot {
	return &raftpb.Snapshot{Data: []byte(data), Metadata: &raftpb.SnapshotMetadata{
		Index: new(idx), Term: new(uint64(1)), ConfState: &raftpb.ConfState{Voters: []uint64{9}}}}
}

// TestTornRecordOutsideLastSegmentFailsClearly: etcd's Repair only mends
// the last segment, so a torn record in an earlier one is not repairable;
// Open once repaired and re-read forever (issue 8 item 15). It must try
// one repair and then fail with a clear error.
func TestTornRecordOutsideLastSegmentFailsClearly(t *testing.T) {
	smallSegments(t)
	dir := t.TempDir()
	lg := zaptest.NewLogger(t)
	s, err := Create(lg, dir, Metadata{MemberID: 9})
	if err != nil {
		t.Fatal(err)
	}
	saveEntries(t, s, 1, 60)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := fileutil.ReadDir(walDir(dir), fileutil.WithExt(".wal"))
	if err != nil || len(names) < 2 {
		t.Fatalf("want several WAL segments, got %v (%v)", names, err)
	}
	first := filepath.Join(walDir(dir), names[0])
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(first, st.Size()-100); err != nil { // tear its last record
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s2, _, err := Open(lg, dir)
		if err == nil {
			_ = s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Open succeeded on a WAL with a torn record in a middle segment")
		}
		if !strings.Contains(err.Error(), "after one repair") {
			t.Fatalf("error %q does not say the repair failed", err)
		}
		t.Logf("Open: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Open did not return within 30s: it repairs in a loop")
	}
}

// TestFallbackSnapshotIsUsable: a snapshot file kept as a fallback is only
// useful with the WAL after it. Corrupt the newest snapshot file; Open must
// load the older one and replay the WAL from there (before, the WAL was
// released up to the newest snapshot and the fallback was useless).
func TestFallbackSnapshotIsUsable(t *testing.T) {
	smallSegments(t)
	dir := t.TempDir()
	lg := zaptest.NewLogger(t)
	s, err := Create(lg, dir, Metadata{MemberID: 9})
	if err != nil {
		t.Fatal(err)
	}
	saveEntries(t, s, 1, 50)
	for _, snap := range []*raftpb.Snapshot{snapAt(40, "at 40"), snapAt(90, "at 90")} {
		if snap.Metadata.GetIndex() == 90 {
			saveEntries(t, s, 51, 100)
		}
		if err := s.SaveSnap(snap); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, err := filepath.Glob(filepath.Join(snapDir(dir), "*.snap"))
	if err != nil || len(snaps) != keepSnapFiles {
		t.Fatalf("snapshot files %v (%v), want %d", snaps, err, keepSnapFiles)
	}
	newest := snaps[len(snaps)-1]
	if err := os.WriteFile(newest, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, loaded, err := Open(lg, dir)
	if err != nil {
		t.Fatalf("Open with a corrupt newest snapshot: %v", err)
	}
	defer s2.Close()
	if loaded.Snapshot == nil || string(loaded.Snapshot.Data) != "at 40" {
		t.Fatalf("loaded snapshot %v, want the fallback at 40", loaded.Snapshot)
	}
	if len(loaded.Entries) == 0 || loaded.Entries[0].GetIndex() != 41 || loaded.Entries[len(loaded.Entries)-1].GetIndex() != 100 {
		t.Fatalf("entries after the fallback: %d; want 41..100", len(loaded.Entries))
	}
}

// TestSaveSnapSyncsDirectory: a new .snap file's name is durable only
// once its directory is fsynced (issue 8 item 15).
func TestSaveSnapSyncsDirectory(t *testing.T) {
	dir := t.TempDir()
	lg := zaptest.NewLogger(t)
	s, err := Create(lg, dir, Metadata{MemberID: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	saveEntries(t, s, 1, 5)
	var synced []string
	old := syncDir
	syncDir = func(p string) error { synced = append(synced, p); return old(p) }
	t.Cleanup(func() { syncDir = old })
	if err := s.SaveSnap(snapAt(5, "s")); err != nil {
		t.Fatal(err)
	}
	if len(synced) == 0 || synced[0] != snapDir(dir) {
		t.Fatalf("directories fsynced: %v; want %s", synced, snapDir(dir))
	}
}
