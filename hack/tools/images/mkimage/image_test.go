package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestParseFileSpec(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    fileSpec
		wantErr bool
	}{
		{name: "plain", in: "bin/raftnode:/raftnode", want: fileSpec{Src: "bin/raftnode", Dest: "/raftnode"}},
		{name: "nested dest is cleaned", in: "a:/usr//bin/./a", want: fileSpec{Src: "a", Dest: "/usr/bin/a"}},
		{name: "relative dest", in: "a:a", wantErr: true},
		{name: "no dest", in: "a", wantErr: true},
		{name: "no src", in: ":/a", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFileSpec(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseFileSpec(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("parseFileSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDirectories(t *testing.T) {
	cases := []struct {
		name  string
		files []fileSpec
		want  []string
	}{
		{name: "top level file", files: []fileSpec{{Dest: "/pause"}}, want: []string{"tmp"}},
		{name: "nested and shared parents", files: []fileSpec{{Dest: "/usr/bin/a"}, {Dest: "/usr/lib/b"}},
			want: []string{"tmp", "usr", "usr/bin", "usr/lib"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := directories(tc.files); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("directories() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWriteRoundTrip writes an image twice and reads it back the way a
// runtime would: same digest both times, the tag, the entrypoint and the files.
func TestWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Tag: "kuberaft.local/app:test", Arch: "amd64", Files: []fileSpec{{Src: bin, Dest: "/bin/app"}}}
	first, err := Write(filepath.Join(dir, "1.tar"), opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Write(filepath.Join(dir, "2.tar"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("digest not reproducible: %s then %s", first, second)
	}

	tag, err := name.NewTag(opts.Tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, "1.tar"), &tag)
	if err != nil {
		t.Fatalf("read back by tag: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; !reflect.DeepEqual(got, []string{"/bin/app"}) {
		t.Errorf("entrypoint = %v, want [/bin/app]", got)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want 1", len(layers), err)
	}
	got := layerEntries(t, layers[0].Uncompressed)
	want := map[string]int64{"bin/": 0o755, "tmp/": 0o1777, "bin/app": 0o755}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries = %v, want %v", got, want)
	}
}

// layerEntries maps each tar entry name to its mode.
func layerEntries(t *testing.T, open func() (io.ReadCloser, error)) map[string]int64 {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = hdr.Mode
	}
}

// TestBaseLayersAndSymlinks builds an image the way hack/kind does for
// kube-proxy: a rootfs tarball below, the binary plus a symlink to it above,
// and an explicit PATH that replaces the default one.
func TestBaseLayersAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "k8s")
	if err := os.WriteFile(bin, []byte("#!multicall"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "rootfs.tar")
	baseTar, err := layerTarball([]fileSpec{{Src: bin, Dest: "/usr/sbin/iptables"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, baseTar, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Options{Tag: "registry.k8s.io/kube-proxy:v1", Arch: "amd64", BaseLayers: []string{base},
		Files:    []fileSpec{{Src: bin, Dest: "/usr/local/bin/k8s"}},
		Symlinks: []symlinkSpec{{Dest: "/usr/local/bin/kube-proxy", Target: "k8s"}},
		Env:      []string{"PATH=/usr/local/bin:/usr/sbin"}})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers = %d, %v; want 2 (base, files)", len(layers), err)
	}
	if got := layerEntries(t, layers[0].Uncompressed); got["usr/sbin/iptables"] != 0o755 {
		t.Errorf("base layer = %v, want usr/sbin/iptables", got)
	}
	top := layerEntries(t, layers[1].Uncompressed)
	if top["usr/local/bin/kube-proxy"] != 0o777 || top["usr/local/bin/k8s"] != 0o755 {
		t.Errorf("files layer = %v, want the binary and its symlink", top)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/local/bin:/usr/sbin"}; !reflect.DeepEqual(cfg.Config.Env, want) {
		t.Errorf("env = %v, want %v", cfg.Config.Env, want)
	}
}
