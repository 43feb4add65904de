package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the timestamp of every file and of the image itself, so the same
// inputs always give the same digest (a rebuild does not churn containerd).
var epoch = time.Unix(0, 0).UTC()

// fileSpec is one file copied into the image.
type fileSpec struct {
	Src  string // path on the host
	Dest string // absolute path in the image
}

// symlinkSpec is one symlink in the files' layer.
type symlinkSpec struct {
	Dest   string // absolute path of the link in the image
	Target string // what it points to, as written
}

// defaultPath is the image's PATH unless Env sets one: the files of a
// scratch image live at / or under the usual bin directories.
const defaultPath = "PATH=/:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options describe one image.
type Options struct {
	Tag        string        // reference written into the tarball
	Files      []fileSpec    // the layer's content; Files[0] is the default entrypoint
	Symlinks   []symlinkSpec // also in the files' layer
	BaseLayers []string      // uncompressed tarballs below the files' layer
	Entrypoint []string      // defaults to Files[0].Dest
	Env        []string      // KEY=VALUE; a PATH entry replaces defaultPath
	User       string        // empty means root
	Arch       string        // GOARCH of the binaries
}

func parseFileSpec(v string) (fileSpec, error) {
	src, dest, ok := strings.Cut(v, ":")
	if !ok || src == "" || !path.IsAbs(dest) {
		return fileSpec{}, fmt.Errorf("-file %q: want SRC:DEST with an absolute DEST", v)
	}
	return fileSpec{Src: src, Dest: path.Clean(dest)}, nil
}

func parseSymlinkSpec(v string) (symlinkSpec, error) {
	dest, target, ok := strings.Cut(v, ":")
	if !ok || target == "" || !path.IsAbs(dest) {
		return symlinkSpec{}, fmt.Errorf("-symlink %q: want DEST:TARGET with an absolute DEST", v)
	}
	return symlinkSpec{Dest: path.Clean(dest), Target: target}, nil
}

// Write builds the image and writes it as a docker-archive tarball; it
// returns the image digest.
func Write(out string, o Options) (v1.Hash, error) {
	ref, err := name.NewTag(o.Tag, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("tag %q: %w", o.Tag, err)
	}
	img, err := Build(o)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return v1.Hash{}, fmt.Errorf("write %s: %w", out, err)
	}
	return img.Digest()
}

// Build assembles the image: one layer holding the files and an empty /tmp,
// and a config that runs the entrypoint.
func Build(o Options) (v1.Image, error) {
	layers := make([]v1.Layer, 0, len(o.BaseLayers)+1)
	for _, p := range o.BaseLayers {
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", p, err)
		}
		layers = append(layers, l)
	}
	layerTar, err := layerTarball(o.Files, o.Symlinks)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, append(layers, layer)...)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", o.Arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = imageConfig(o)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

func imageConfig(o Options) v1.Config {
	entry := o.Entrypoint
	if len(entry) == 0 && len(o.Files) > 0 {
		entry = []string{o.Files[0].Dest}
	}
	env := []string{defaultPath}
	for _, e := range o.Env {
		if strings.HasPrefix(e, "PATH=") {
			env = env[:0]
		}
	}
	return v1.Config{
		Entrypoint: entry,
		Env:        append(env, o.Env...),
		User:       o.User,
		WorkingDir: "/",
	}
}

// layerTarball returns an uncompressed tar of the files (mode 0755, owned by
// root, epoch timestamps), the symlinks, their parent directories and a
// world-writable /tmp.
func layerTarball(files []fileSpec, links []symlinkSpec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dests := slices.Clone(files)
	for _, l := range links {
		dests = append(dests, fileSpec{Dest: l.Dest})
	}
	for _, dir := range directories(dests) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: dirMode(dir), ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Dest, "/"), Mode: 0o755, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(l.Dest, "/"), Linkname: l.Target, Mode: 0o777, ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// directories lists, sorted and without the root, every parent directory of
// the files plus tmp, as relative tar names.
func directories(files []fileSpec) []string {
	set := map[string]bool{"tmp": true}
	for _, f := range files {
		for d := path.Dir(f.Dest); d != "/"; d = path.Dir(d) {
			set[strings.TrimPrefix(d, "/")] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func dirMode(dir string) int64 {
	if dir == "tmp" {
		return 0o1777 // programs expect a writable temp dir even in a scratch image
	}
	return 0o755
}
