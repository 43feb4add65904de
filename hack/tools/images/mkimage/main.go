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
		out   = fs.String("o", "", "output tarball (docker-archive)")
		entry = fs.String("entrypoint", "", "entrypoint, space separated (default: the first -file's DEST)")
		env   = fs.String("env", "", "extra environment, comma separated KEY=VALUE")
	)
	fs.StringVar(&opts.Tag, "tag", "", "image reference, e.g. kuberaft.local/raftnode:dev")
	fs.StringVar(&opts.Arch, "arch", "amd64", "image architecture")
	fs.StringVar(&opts.User, "user", "", "user to run as, e.g. 65532:65532 (default: root)")
	fs.Var(&files, "file", "SRC:DEST, repeatable; DEST is an absolute path in the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || opts.Tag == "" || len(files) == 0 {
		fs.Usage()
		return errors.New("-o, -tag and at least one -file are required")
	}
	opts.Files = files
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
