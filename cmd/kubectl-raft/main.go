// Command kubectl-raft is the kubectl plugin for kuberaft RaftClusters
// (`kubectl raft status NAME`, `move-leader`, `restart`, `pause`, `resume`,
// `etcdctl`, `backup`). The commands live in internal/raftctl.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kuberaft/kuberaft/internal/raftctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := raftctl.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return
	}
	// etcdctl's own exit code is passed on, as kubectl exec does.
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		stop()
		os.Exit(exit.ExitCode())
	}
	fmt.Fprintln(os.Stderr, "kubectl-raft:", err)
	stop()
	os.Exit(1)
}
