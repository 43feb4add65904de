package snapfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "b.db")
	if err := WriteFile(path, strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "data" {
		t.Fatalf("read back %q, %v; want \"data\"", got, err)
	}
	// A short stream must leave neither a final file nor the .part behind.
	short := filepath.Join(dir, "short.db")
	if err := WriteFile(short, strings.NewReader("dat"), 4); err == nil {
		t.Fatal("a short stream was accepted")
	}
	for _, p := range []string{short, short + ".part"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s after a failed write: %v, want not exist", p, err)
		}
	}
}
