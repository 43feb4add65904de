package snapfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile is the one way a backup file is put on a file system (by
// `raftnode backup` and by the operator's volume store): it writes
// path.part, fsyncs it and renames it to path, so a crash never leaves a
// partial file under the final name; on failure path.part is removed. A
// size of -1 skips the length check.
func WriteFile(path string, r io.Reader, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("wrote %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, path)
	}
	if err != nil {
		_ = os.Remove(part)
	}
	return err
}
