// Command raftnode runs one member of a kuberaft cluster: an etcd-raft
// replica that speaks the etcd v3 gRPC API subset on its client port and
// serves probes, status and metrics over HTTP. Flags follow etcd's names.
// `raftnode backup save|delete` is the operator's backup agent for volume
// destinations (backup.go).
//
// Exit codes:
//
//	0  stopped by SIGTERM/SIGINT (after a graceful stop) or --version/--help
//	1  runtime failure (listen, storage, the node stopped with an error)
//	2  bad command line (malformed URL, bad value)
//	3  fenced: the data dir or the cluster forbids this member to run (another
//	   cluster's data, a removed member, or an empty data dir for a member the
//	   cluster records as a voter). The node never touched the cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit codes; see the package doc.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitFenced  = 3
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code. ctx is
// cancelled by SIGTERM/SIGINT.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "backup" {
		return runBackup(ctx, args[1:], stdout, stderr)
	}
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "raftnode: %v\n", err)
		return exitUsage
	}
	if opts.version {
		printVersion(stdout)
		return exitOK
	}
	return runNode(ctx, opts, stderr)
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "raftnode version: %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(w, "Go version: %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				fmt.Fprintf(w, "Git SHA: %s\n", s.Value)
			}
		}
	}
}
