package kv

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

// The target is raised for the length of the restores that overlap and
// put back when the last one ends, whatever the order they end in.
func TestRelaxGCForRestoreNests(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	gcPercent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }

	first := relaxGCForRestore()
	second := relaxGCForRestore()
	if got := gcPercent(); got != restoreGCPercent {
		t.Fatalf("during two restores GOGC = %d, want %d", got, restoreGCPercent)
	}
	first()
	first() // ending twice ends once
	if got := gcPercent(); got != restoreGCPercent {
		t.Fatalf("after the first of two restores ended GOGC = %d, want %d", got, restoreGCPercent)
	}
	second()
	if got := gcPercent(); got != 100 {
		t.Fatalf("after both restores GOGC = %d, want 100 back", got)
	}
}

// A target the operator set higher, or the collector switched off, is
// left as it is.
func TestRelaxGCForRestoreKeepsAHigherTarget(t *testing.T) {
	for _, set := range []int{-1, 2 * restoreGCPercent} {
		before := debug.SetGCPercent(set)
		done := relaxGCForRestore()
		during := debug.SetGCPercent(set)
		done()
		after := debug.SetGCPercent(before)
		if during != set || after != set {
			t.Errorf("GOGC %d: during the restore %d, after %d; want it unchanged", set, during, after)
		}
	}
}

// BenchmarkOpenLoadedStore times opening a store file, which rebuilds
// mvcc's in-memory index from every revision in it, as a restart or an
// installed snapshot does. KV_BENCH_KEYS sets the keys (1 KiB values, in
// hash order as etcd's benchmark writes them; default 50 000).
func BenchmarkOpenLoadedStore(b *testing.B) {
	keys := 50000
	if v := os.Getenv("KV_BENCH_KEYS"); v != "" {
		var err error
		if keys, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	s, err := Open(nil, dir)
	if err != nil {
		b.Fatal(err)
	}
	val := string(make([]byte, 1024))
	for i := range uint64(keys) {
		sum := sha256.Sum256([]byte(strconv.FormatUint(i, 10)))
		if r := s.ApplyEntry(i+1, 1, putEntry(i+1, hex.EncodeToString(sum[:8]), val)); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(nil, dir)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := s.Revision(); got != int64(keys+1) {
			b.Fatalf("revision %d after %d puts", got, keys)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
