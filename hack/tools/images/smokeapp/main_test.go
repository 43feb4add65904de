package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEnsureIDKeepsFirstBoot is the property the smoke test relies on: a pod
// that comes back on the same volume reports the id of its first boot.
func TestEnsureIDKeepsFirstBoot(t *testing.T) {
	dir := t.TempDir()
	first, err := ensureID(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ensureID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("id changed across boots: %q then %q", first, second)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "id"))
	if err != nil || string(onDisk) != first {
		t.Fatalf("id file = %q, %v; want %q", onDisk, err, first)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"lookup"}, {"get", "a", "b"}, {"nope"}} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
