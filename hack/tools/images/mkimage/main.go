// Command mkimage packs static binaries into a container image with no base
// image and writes it as a docker-archive tarball (the format that
// `ctr images import` and `kind load image-archive` both read).
//
// There is no registry and no docker on the test machines, so images are made
// from files: every -file SRC:DEST lands in one layer, the first file is the
// entrypoint unless -entrypoint says otherwise. The output is reproducible:
// fixed timestamps and ownership give the same digest for the same inputs.
//
// Usage:
//
//	mkimage -tag kuberaft.local/raftnode:dev -o raftnode.tar -file bin/raftnode:/raftnode
//
// The kind node's images (hack/kind) also use -layer (a rootfs tarball put
// below the files, e.g. Debian with iptables for kube-proxy) and -symlink
// (one multicall binary reached under several names).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// fileList collects repeated -file SRC:DEST flags.
type fileList []fileSpec

func (f *fileList) String() string { return fmt.Sprint(*f) }

func (f *fileList) Set(v string) error {
	spec, err := parseFileSpec(v)
	if err != nil {
		return err
	}
	*f = append(*f, spec)
	return nil
}

// linkList collects repeated -symlink DEST:TARGET flags.
type linkList []symlinkSpec

func (l *linkList) String() string { return fmt.Sprint(*l) }

func (l *linkList) Set(v string) error {
	spec, err := parseSymlinkSpec(v)
	if err != nil {
		return err
	}
	*l = append(*l, spec)
	return nil
}

// layerList collects repeated -layer TARBALL flags.
type layerList []string

func (l *layerList) String() string { return fmt.Sprint(*l) }

func (l *layerList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var (
		opts  Options
		files fileList
		links linkList
		base  layerList
		out   = fs.String("o", "", "output tarball (docker-archive)")
		entry = fs.String("entrypoint", "", "entrypoint, space separated (default: the first -file's DEST)")
		env   = fs.String("env", "", "extra environment, comma separated KEY=VALUE")
	)
	fs.StringVar(&opts.Tag, "tag", "", "image reference, e.g. kuberaft.local/raftnode:dev")
	fs.StringVar(&opts.Arch, "arch", "amd64", "image architecture")
	fs.StringVar(&opts.User, "user", "", "user to run as, e.g. 65532:65532 (default: root)")
	fs.Var(&files, "file", "SRC:DEST, repeatable; DEST is an absolute path in the image")
	fs.Var(&links, "symlink", "DEST:TARGET, repeatable; a symlink at DEST in the files' layer")
	fs.Var(&base, "layer", "uncompressed rootfs tarball, repeatable; layers below the files' layer, in order")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || opts.Tag == "" || len(files) == 0 {
		fs.Usage()
		return errors.New("-o, -tag and at least one -file are required")
	}
	opts.Files, opts.Symlinks, opts.BaseLayers = files, links, base
	if *entry != "" {
		opts.Entrypoint = strings.Fields(*entry)
	}
	if *env != "" {
		opts.Env = strings.Split(*env, ",")
	}
	digest, err := Write(*out, opts)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", opts.Tag, digest, *out)
	return nil
}
