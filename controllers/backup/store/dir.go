package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kuberaft/kuberaft/node/snapfile"
)

// Dir stores files under a directory: a PersistentVolumeClaim mounted by
// the pod that runs the backup.
type Dir struct {
	root  string
	claim string
}

// NewDir is a store rooted at root (the claim's mount point); claim only
// names it in Location.
func NewDir(root, claim string) *Dir { return &Dir{root: root, claim: claim} }

func (d *Dir) path(key string) (string, error) {
	p := filepath.Join(d.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, filepath.Clean(d.root)+string(filepath.Separator)) {
		return "", fmt.Errorf("key %q escapes the volume", key)
	}
	return p, nil
}

// Put writes key.part, fsyncs it and renames it to key, so a crash never
// leaves a partial file under the final name.
func (d *Dir) Put(_ context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := snapfile.WriteFile(p, r, size); err != nil {
		return fmt.Errorf("pvc put %s: %w", key, err)
	}
	return nil
}

// Get opens key.
func (d *Dir) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Location(key), ErrNotFound)
	}
	return f, err
}

// Delete removes key; missing is fine.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pvc delete %s: %w", key, err)
	}
	return nil
}

// Location is pvc://claim/key.
func (d *Dir) Location(key string) string { return "pvc://" + d.claim + "/" + key }
