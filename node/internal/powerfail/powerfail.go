// Package powerfail is a FUSE filesystem for power-loss tests: a loopback
// over a backing directory that also keeps a second, "durable" copy holding
// only what a real disk would keep after a power cut. Crash drops
// everything that was not fsynced; Remount brings the mount back with the
// durable copy as its content.
//
// It exists because a kill -9 keeps the page cache and a clean stop fsyncs,
// so ordinary crash tests never lose unsynced data (issue 8, "Proof that
// nothing is lost"). It uses github.com/hanwen/go-fuse/v2, the maintained Go
// FUSE library, rather than a hand-written FUSE protocol (as LazyFS does in
// C++; the research in power-loss.md compares the options).
//
// The crash model is "durable only" (LazyFS clear-cache), with ext4-like
// metadata ordering:
//   - file data becomes durable when the file is fsynced or fdatasynced;
//   - namespace changes (create, mkdir, rename, unlink, rmdir) become
//     durable, in order, at the next fsync of any file or directory (ext4's
//     journal commits every earlier metadata change with any fsync);
//   - nothing else (close, flush, time) makes anything durable.
//
// Writes go to the backing directory at once, so reads see them; fsync
// copies the written ranges of that file into the durable copy.
package powerfail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is one mounted power-fail filesystem.
type FS struct {
	dir, backing, durable, mnt string
	server                     *fuse.Server

	mu      sync.Mutex // orders fsyncs, the namespace log and Crash
	crashed bool
	pending []nsOp // namespace changes not yet durable
	syncs   int    // fsyncs that reached the durable copy (tests read it)
}

// nsOp is one namespace change, replayed on the durable copy at the next
// fsync. Paths are relative to the mount.
type nsOp struct {
	kind     string // "mkdir", "create", "remove", "rename"
	path, to string
}

// Mount creates dir/backing, dir/durable and dir/mnt and mounts the
// filesystem at dir/mnt (see MountPoint). It needs /dev/fuse and root (or
// CAP_SYS_ADMIN): it mounts with mount(2), without fusermount.
func Mount(dir string) (*FS, error) {
	f := &FS{dir: dir, backing: filepath.Join(dir, "backing"), durable: filepath.Join(dir, "durable"), mnt: filepath.Join(dir, "mnt")}
	for _, d := range []string{f.backing, f.durable, f.mnt} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("powerfail: %w", err)
		}
	}
	if err := f.mount(); err != nil {
		return nil, err
	}
	return f, nil
}

// MountPoint is where the filesystem is mounted.
func (f *FS) MountPoint() string { return f.mnt }

// Syncs counts the fsyncs that made data durable so far (a test checks the
// workload really went through the layer).
func (f *FS) Syncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

func (f *FS) mount() error {
	root := &fs.LoopbackRoot{Path: f.backing}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fsys: f}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f.backing, &st); err != nil {
		return fmt.Errorf("powerfail: stat backing dir: %w", err)
	}
	root.Dev = st.Dev
	rootNode := root.NewNode(root, nil, "", &st)
	root.RootNode = rootNode
	srv, err := fs.Mount(f.mnt, rootNode, &fs.Options{MountOptions: fuse.MountOptions{
		// mount(2) directly: no fusermount binary, no fallback that
		// would hide a missing privilege.
		DirectMountStrict: true,
		FsName:            "powerfail", Name: "powerfail",
	}})
	if err != nil {
		return fmt.Errorf("powerfail: mount %s: %w", f.mnt, err)
	}
	f.server = srv
	return nil
}

// Crash is the power cut: from now on nothing becomes durable. The caller
// then kills the processes using the mount and calls Remount.
func (f *FS) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = true
}

// Remount unmounts (every user of the mount must be gone), replaces the
// backing directory with the durable copy, and mounts again: the new mount
// shows exactly what a disk would hold after the power cut.
func (f *FS) Remount() error {
	if err := f.unmount(); err != nil {
		return err
	}
	f.mu.Lock()
	f.crashed, f.pending = false, nil
	f.mu.Unlock()
	if err := os.RemoveAll(f.backing); err != nil {
		return fmt.Errorf("powerfail: drop backing dir: %w", err)
	}
	// cp keeps holes (WAL segments are preallocated and mostly empty);
	// the durable copy stays as the reference for the next crash.
	if out, err := exec.Command("cp", "-a", "--sparse=always", f.durable, f.backing).CombinedOutput(); err != nil {
		return fmt.Errorf("powerfail: rebuild backing dir: %w: %s", err, out)
	}
	return f.mount()
}

// Unmount unmounts the filesystem for good.
func (f *FS) Unmount() error { return f.unmount() }

// unmount retries while the kernel still holds the mount busy (a killed
// process's files close asynchronously), then detaches it lazily.
func (f *FS) unmount() error {
	if f.server == nil {
		return nil
	}
	var err error
	for range 50 {
		if err = f.server.Unmount(); err == nil {
			f.server.Wait()
			f.server = nil
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if derr := syscall.Unmount(f.mnt, syscall.MNT_DETACH); derr != nil {
		return fmt.Errorf("powerfail: unmount %s: %w (detach: %w)", f.mnt, err, derr)
	}
	f.server = nil
	return nil
}

// logOp records a namespace change that succeeded on the backing dir.
func (f *FS) logOp(op nsOp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.crashed {
		f.pending = append(f.pending, op)
	}
}

// commitNamespace replays the pending namespace changes on the durable
// copy. Called with f.mu held.
func (f *FS) commitNamespace() error {
	for _, op := range f.pending {
		p := filepath.Join(f.durable, op.path)
		var err error
		switch op.kind {
		case "mkdir":
			if err = os.Mkdir(p, 0o700); errors.Is(err, os.ErrExist) {
				err = nil
			}
		case "create":
			var fd *os.File
			if fd, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				err = fd.Close()
			}
		case "remove":
			if err = os.Remove(p); errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		case "rename":
			err = os.Rename(p, filepath.Join(f.durable, op.to))
		}
		if err != nil {
			return fmt.Errorf("powerfail: replay %s %s: %w", op.kind, op.path, err)
		}
	}
	f.pending = nil
	return nil
}

// syncDir is fsync of a directory: namespace changes become durable.
func (f *FS) syncDir() syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return syscall.EIO
	}
	if err := f.commitNamespace(); err != nil {
		return syscall.EIO
	}
	return fs.OK
}

// syncFile is fsync of a file: namespace changes, then the file's written
// ranges and size, become durable.
func (f *FS) syncFile(n *node) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return syscall.EIO
	}
	if err := f.commitNamespace(); err != nil {
		return syscall.EIO
	}
	rel := n.Path(n.Root())
	if strings.Contains(rel, ".go-fuse.") {
		return fs.OK // unlinked while open: nothing durable to update
	}
	d := n.takeDirty()
	if err := copyDirty(filepath.Join(f.backing, rel), filepath.Join(f.durable, rel), d); err != nil {
		return syscall.EIO
	}
	f.syncs++
	return fs.OK
}

// copyDirty brings dst (the durable copy) up to src for the ranges in d.
func copyDirty(src, dst string, d dirty) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if d.truncated && d.truncLow < st.Size() {
		// Data past a truncation point is gone even if the file grew
		// again (fallocate after truncate zero-fills).
		if err := out.Truncate(d.truncLow); err != nil {
			_ = out.Close()
			return err
		}
	}
	if err := out.Truncate(st.Size()); err != nil {
		_ = out.Close()
		return err
	}
	if hi := min(d.hi, st.Size()); d.lo < hi {
		if _, err := io.Copy(io.NewOffsetWriter(out, d.lo), io.NewSectionReader(in, d.lo, hi-d.lo)); err != nil {
			_ = out.Close()
			return err
		}
	}
	return out.Close()
}

// dirty is what was written to a file since its last fsync: one range
// (writes here are mostly appends) and the lowest truncation point.
type dirty struct {
	lo, hi    int64
	truncated bool
	truncLow  int64
}

// node is a loopback inode that tracks its unsynced writes.
type node struct {
	fs.LoopbackNode
	fsys *FS

	mu    sync.Mutex
	dirty dirty
}

func (n *node) wrote(off, size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirty.lo == n.dirty.hi {
		n.dirty.lo, n.dirty.hi = off, off+size
		return
	}
	n.dirty.lo, n.dirty.hi = min(n.dirty.lo, off), max(n.dirty.hi, off+size)
}

func (n *node) truncated(size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.dirty.truncated || size < n.dirty.truncLow {
		n.dirty.truncated, n.dirty.truncLow = true, size
	}
}

// takeDirty returns and clears the dirty state: writes that land while
// the fsync copies are recorded again for the next one.
func (n *node) takeDirty() dirty {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.dirty
	n.dirty = dirty{}
	return d
}

func (n *node) childPath(name string) string {
	return filepath.Join(n.Path(n.Root()), name)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == fs.OK {
		n.fsys.logOp(nsOp{kind: "mkdir", path: n.childPath(name)})
	}
	return in, errno
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != fs.OK {
		return in, fh, fl, errno
	}
	n.fsys.logOp(nsOp{kind: "create", path: n.childPath(name)})
	child := in.Operations().(*node)
	if flags&syscall.O_TRUNC != 0 {
		child.truncated(0)
	}
	return in, &file{LoopbackFile: fh.(*fs.LoopbackFile), n: child}, fl, errno
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != fs.OK {
		return fh, fl, errno
	}
	if flags&syscall.O_TRUNC != 0 {
		n.truncated(0)
	}
	return &file{LoopbackFile: fh.(*fs.LoopbackFile), n: n}, fl, errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	errno := n.LoopbackNode.Unlink(ctx, name)
	if errno == fs.OK {
		n.fsys.logOp(nsOp{kind: "remove", path: n.childPath(name)})
	}
	return errno
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	errno := n.LoopbackNode.Rmdir(ctx, name)
	if errno == fs.OK {
		n.fsys.logOp(nsOp{kind: "remove", path: n.childPath(name)})
	}
	return errno
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 {
		return syscall.ENOTSUP // RENAME_EXCHANGE/NOREPLACE: not modelled
	}
	from, to := n.childPath(name), filepath.Join(newParent.EmbeddedInode().Path(n.Root()), newName)
	errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	if errno == fs.OK {
		n.fsys.logOp(nsOp{kind: "rename", path: from, to: to})
	}
	return errno
}

// Links, symlinks and device nodes are not modelled; refuse them rather
// than lose them silently at a crash.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	errno := n.LoopbackNode.Setattr(ctx, fh, in, out)
	if sz, ok := in.GetSize(); ok && errno == fs.OK {
		n.truncated(int64(sz))
	}
	return errno
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != fs.OK {
		return fh, fl, errno
	}
	h, ok := fh.(dirHandle)
	if !ok {
		return nil, 0, syscall.EIO
	}
	return &dir{dirHandle: h, fsys: n.fsys}, fl, errno
}

// dirHandle is what the loopback directory handle offers, minus Fsyncdir.
type dirHandle interface {
	fs.FileReaddirenter
	fs.FileReleasedirer
	fs.FileSeekdirer
}

type dir struct {
	dirHandle
	fsys *FS
}

func (d *dir) Fsyncdir(context.Context, uint32) syscall.Errno { return d.fsys.syncDir() }

// file is a loopback file handle that records writes and turns fsync into
// durability. It is never passed through to the kernel (FUSE passthrough
// would bypass Write).
type file struct {
	*fs.LoopbackFile
	n *node
}

func (f *file) PassthroughFd() (int, bool) { return -1, false }

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	w, errno := f.LoopbackFile.Write(ctx, data, off)
	if w > 0 {
		f.n.wrote(off, int64(w))
	}
	return w, errno
}

func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	errno := f.LoopbackFile.Setattr(ctx, in, out)
	if sz, ok := in.GetSize(); ok && errno == fs.OK {
		f.n.truncated(int64(sz))
	}
	return errno
}

func (f *file) Fsync(context.Context, uint32) syscall.Errno { return f.n.fsys.syncFile(f.n) }
