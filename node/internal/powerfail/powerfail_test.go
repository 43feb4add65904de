package powerfail

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// mountT mounts a power-fail filesystem for the test; a missing /dev/fuse
// or privilege fails the test (make test installs and runs as root).
func mountT(t *testing.T) *FS {
	t.Helper()
	f, err := Mount(t.TempDir())
	if err != nil {
		t.Fatalf("powerfail needs /dev/fuse and root (hack/node/fuse.sh): %v", err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return f
}

func writeFile(t *testing.T, path string, data []byte, sync bool) {
	t.Helper()
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := fd.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, path string) {
	t.Helper()
	d, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func crash(t *testing.T, f *FS) {
	t.Helper()
	f.Crash()
	if err := f.Remount(); err != nil {
		t.Fatal(err)
	}
}

func TestCrashKeepsOnlySyncedData(t *testing.T) {
	f := mountT(t)
	mnt := f.MountPoint()
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	synced := filepath.Join(mnt, "d", "synced")
	early := filepath.Join(mnt, "d", "early")
	writeFile(t, early, []byte("e"), false) // its name commits with the next fsync
	writeFile(t, synced, []byte("durable"), true)
	writeFile(t, synced, []byte("-lost"), false) // appended, never synced
	writeFile(t, filepath.Join(mnt, "d", "unsynced"), []byte("x"), false)
	// Reads before the crash see everything written.
	if got, err := os.ReadFile(synced); err != nil || string(got) != "durable-lost" {
		t.Fatalf("before crash: %q, %v", got, err)
	}
	crash(t, f)
	if got, err := os.ReadFile(early); err != nil || len(got) != 0 {
		t.Fatalf("early file after crash: %q, %v; want it empty (name durable, data not)", got, err)
	}
	got, err := os.ReadFile(synced)
	if err != nil || string(got) != "durable" {
		t.Fatalf("after crash: %q, %v; want %q", got, err, "durable")
	}
	// "unsynced" was created after the last fsync: its name is lost too.
	if _, err := os.Stat(filepath.Join(mnt, "d", "unsynced")); !os.IsNotExist(err) {
		t.Fatalf("unsynced file after crash: %v; want it gone", err)
	}
}

func TestNamespaceNeedsAnFsync(t *testing.T) {
	f := mountT(t)
	mnt := f.MountPoint()
	a := filepath.Join(mnt, "a")
	writeFile(t, a, []byte("A"), true)
	if err := os.Rename(a, filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	crash(t, f)
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("rename without an fsync survived the crash: %v", err)
	}
	if err := os.Rename(a, filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	crash(t, f)
	if got, err := os.ReadFile(filepath.Join(mnt, "b")); err != nil || !bytes.Equal(got, []byte("A")) {
		t.Fatalf("synced rename lost: %q, %v", got, err)
	}
}

func TestTruncateThenSync(t *testing.T) {
	f := mountT(t)
	p := filepath.Join(f.MountPoint(), "t")
	writeFile(t, p, []byte("0123456789"), true)
	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	fd, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fd.Truncate(8); err != nil { // grows again: zeros
		t.Fatal(err)
	}
	if err := fd.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	crash(t, f)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, []byte("0123\x00\x00\x00\x00")) {
		t.Fatalf("after crash: %q, %v", got, err)
	}
}

func TestNothingDurableAfterCrash(t *testing.T) {
	f := mountT(t)
	p := filepath.Join(f.MountPoint(), "late")
	writeFile(t, p, []byte("before"), true)
	f.Crash()
	fd, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := fd.Sync(); err == nil {
		t.Error("fsync after the crash succeeded; want EIO")
	}
	_ = fd.Close()
	if err := f.Remount(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "before" {
		t.Fatalf("after crash: %q, %v", got, err)
	}
}
