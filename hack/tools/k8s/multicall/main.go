// Command k8s is one binary for every Kubernetes component the offline test
// cluster runs, plus etcd. It dispatches on the name it was called by
// (symlinks kube-apiserver, kubelet, ...) or on its first argument
// (`k8s kubelet --help`).
//
// Why one binary: linking five 100 MB programs costs more than linking one,
// and one artifact is simpler to cache (see hack/README.md for the figures).
// The price is that every component runs the init() of every linked package,
// about 95 MiB more resident memory each, which a test machine can afford.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	_ "time/tzdata" // CronJob time zones, as upstream's apiserver and controller-manager main

	"github.com/spf13/cobra"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's client auth plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

// components maps a program name to its entry point; each returns the exit code.
var components = map[string]func(args []string) int{
	"kube-apiserver":          runCobra(func() *cobra.Command { return apiserver.NewAPIServerCommand() }),
	"kube-controller-manager": runCobra(func() *cobra.Command { return controllermanager.NewControllerManagerCommand() }),
	"kube-scheduler":          runCobra(func() *cobra.Command { return scheduler.NewSchedulerCommand() }),
	"kubelet":                 runCobra(func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) }),
	"kube-proxy":              runCobra(func() *cobra.Command { return proxy.NewProxyCommand() }),
	"kubectl":                 runKubectl,
	"etcd":                    runEtcd,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if _, ok := components[name]; !ok && len(os.Args) > 1 {
		// Called as `k8s <component> ...`: shift the component name into argv[0].
		name, args = os.Args[1], os.Args[1:]
	}
	run, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "usage: k8s <component> [flags], or call through a symlink named after one of: %v\n", names())
		os.Exit(2)
	}
	os.Exit(run(args))
}

// runCobra runs a component the way its upstream main does: cli.Run parses
// os.Args[1:], so argv is rewritten first when called as `k8s <component>`.
func runCobra(newCommand func() *cobra.Command) func(args []string) int {
	return func(args []string) int {
		os.Args = args
		return cli.Run(newCommand())
	}
}

// runKubectl mirrors upstream cmd/kubectl/kubectl.go: the verbosity is set
// before the command is built, so plugin and kuberc handling can log.
func runKubectl(args []string) int {
	os.Args = args
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(args)) //nolint:errcheck // upstream ignores it too
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err) // prints the error the kubectl way and exits non-zero
	}
	return 0
}

func runEtcd(args []string) int {
	etcdmain.Main(args)
	return 0
}

func names() []string {
	out := make([]string, 0, len(components))
	for n := range components {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
