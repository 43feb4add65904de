package raftctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Defaults of the command-line flags.
const (
	DefaultWatchInterval = 2 * time.Second
	DefaultWaitTimeout   = 2 * time.Minute
)

// Clients are what the commands talk through; NewCommand builds them from
// the kubeconfig flags, tests inject envtest's and a fake MemberClient.
type Clients struct {
	Client    client.Client
	Clientset kubernetes.Interface
	Config    *rest.Config
	Members   MemberClient
	Namespace string
}

// ClientsFunc builds the clients once the flags are parsed.
type ClientsFunc func() (*Clients, error)

// NewCommand is `kubectl raft` with every kubeconfig flag of kubectl
// (--kubeconfig, --context, -n, --as, ...) through cli-runtime's ConfigFlags.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := NewCommandWith(streams, func() (*Clients, error) { return clientsFromFlags(flags) })
	flags.AddFlags(root.PersistentFlags())
	return root
}

// NewCommandWith is `kubectl raft` over the given clients.
func NewCommandWith(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-raft",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl raft"},
		Short:         "See and steer kuberaft RaftClusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(statusCommand(streams, clients), moveLeaderCommand(streams, clients),
		restartCommand(streams, clients), pauseCommand(streams, clients, true), pauseCommand(streams, clients, false),
		etcdctlCommand(streams, clients), backupCommand(streams, clients))
	return root
}

func clientsFromFlags(flags *genericclioptions.ConfigFlags) (*Clients, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), raftv1alpha1.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Client: c, Clientset: cs, Config: cfg, Members: ProxyMemberClient{Clientset: cs}, Namespace: ns}, nil
}

func statusCommand(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	var output string
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "One screen: phase, members (live figures), joint state, operation in flight, events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != OutputText && output != OutputJSON && output != OutputYAML {
				return fmt.Errorf("-o %s: want json or yaml", output)
			}
			c, err := clients()
			if err != nil {
				return err
			}
			col := &Collector{Client: c.Client, Members: c.Members}
			if !watch {
				return statusOnce(cmd.Context(), streams, col, c.Namespace, args[0], output, false)
			}
			return watchStatus(cmd.Context(), streams, col, c.Namespace, args[0], output, interval)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", OutputText, "Output format: json or yaml (default: the one-screen view)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "Refresh every --interval until interrupted; every frame is printed")
	cmd.Flags().DurationVar(&interval, "interval", DefaultWatchInterval, "Refresh period of --watch")
	return cmd
}

// statusOnce prints one frame. In watch mode a text frame starts with a
// rule line with the time, so a recorded stream splits into frames.
func statusOnce(ctx context.Context, streams genericiooptions.IOStreams, col *Collector, ns, name, output string, framed bool) error {
	in, err := col.Collect(ctx, ns, name)
	if err != nil {
		return err
	}
	if framed && output == OutputText {
		fmt.Fprintf(streams.Out, "%s %s\n", FrameMarker, in.Now.UTC().Format(time.RFC3339))
	}
	return Render(streams.Out, Build(in), output, in.Now)
}

// FrameMarker starts every text frame of --watch.
const FrameMarker = "=== kubectl raft status"

// watchStatus prints a frame every interval until ctx ends. A frame that
// fails to collect (API server briefly away) is reported and the watch
// goes on: --watch is for watching a cluster through trouble.
func watchStatus(ctx context.Context, streams genericiooptions.IOStreams, col *Collector, ns, name, output string, interval time.Duration) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := statusOnce(ctx, streams, col, ns, name, output, true); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(streams.ErrOut, "kubectl-raft: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func moveLeaderCommand(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	var to string
	var waitFor bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "move-leader NAME [--to POD]",
		Short: "Ask the operator to move leadership (to POD, or to the most up-to-date other voter)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clients()
			if err != nil {
				return err
			}
			a := &Actions{Client: c.Client}
			before, err := a.Leader(cmd.Context(), c.Namespace, args[0])
			if err != nil {
				return err
			}
			if err := a.RequestMoveLeader(cmd.Context(), c.Namespace, args[0], to); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "Asked the operator to move the leadership of %s/%s to %s\n", c.Namespace, args[0], orNone(to, "the best other voter"))
			if !waitFor {
				return nil
			}
			// Done when the status shows the move: the target leads, or
			// (no target) someone other than the leader before.
			moved := func(rc *raftv1alpha1.RaftCluster) bool {
				if to != "" {
					return rc.Status.Leader == to
				}
				return rc.Status.Leader != "" && rc.Status.Leader != before
			}
			rc, err := a.WaitRequestDone(cmd.Context(), c.Namespace, args[0], raftv1alpha1.AnnotationMoveLeader, timeout, moved)
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "Done: the leader is %s\n", rc.Status.Leader)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "Member pod to hand leadership to")
	cmd.Flags().BoolVar(&waitFor, "wait", false, "Wait until the operator has carried the request out")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, "How long --wait waits")
	return cmd
}

func restartCommand(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	var waitFor bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "restart POD",
		Short: "Ask the operator to restart a member pod (leadership moved off it first, only with quorum kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clients()
			if err != nil {
				return err
			}
			a := &Actions{Client: c.Client}
			name, err := a.RequestRestart(cmd.Context(), c.Namespace, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "Asked the operator to restart %s (cluster %s/%s)\n", args[0], c.Namespace, name)
			if !waitFor {
				return nil
			}
			_, err = a.WaitRequestDone(cmd.Context(), c.Namespace, name, raftv1alpha1.AnnotationRestart, timeout,
				func(*raftv1alpha1.RaftCluster) bool { return true })
			return err
		},
	}
	cmd.Flags().BoolVar(&waitFor, "wait", false, "Wait until the operator has deleted the pod")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, "How long --wait waits")
	return cmd
}

func pauseCommand(streams genericiooptions.IOStreams, clients ClientsFunc, paused bool) *cobra.Command {
	use, short, done := "resume NAME", "Let the operator change the cluster again (spec.paused=false)", "Resumed"
	if paused {
		use, short, done = "pause NAME", "Stop every change the operator makes (spec.paused=true); status is still observed", "Paused"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clients()
			if err != nil {
				return err
			}
			if err := (&Actions{Client: c.Client}).SetPaused(cmd.Context(), c.Namespace, args[0], paused); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "%s %s/%s\n", done, c.Namespace, args[0])
			return nil
		},
	}
}

func backupCommand(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	var opts BackupOptions
	var waitFor bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "backup NAME (--destination-from-schedule | --pvc CLAIM | --s3-bucket BUCKET --s3-endpoint URL --s3-credentials SECRET)",
		Short: "Create a RaftBackup of the cluster; the operator takes and stores the snapshot",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clients()
			if err != nil {
				return err
			}
			a := &Actions{Client: c.Client}
			b, err := a.CreateBackup(cmd.Context(), c.Namespace, args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "Created RaftBackup %s/%s of cluster %s\n", b.Namespace, b.Name, args[0])
			if !waitFor {
				return nil
			}
			b, err = a.WaitBackup(cmd.Context(), b.Namespace, b.Name, timeout)
			if b != nil && finalBackupPhase(b.Status.Phase) {
				fmt.Fprintf(streams.Out, "%s: phase %s, size %s, sha256 %s, location %s\n", b.Name, b.Status.Phase,
					orNone(b.Status.Size, "-"), orNone(b.Status.SHA256, "-"), orNone(b.Status.Location, "-"))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.FromSchedule, "destination-from-schedule", false, "Store where the cluster's spec.backup stores its scheduled backups")
	f.StringVar(&opts.PVC.ClaimName, "pvc", "", "PersistentVolumeClaim to store the file on")
	f.StringVar(&opts.PVC.Prefix, "pvc-prefix", "", "Directory on the claim")
	f.StringVar(&opts.S3.Bucket, "s3-bucket", "", "S3 bucket to store the file in")
	f.StringVar(&opts.S3.Endpoint, "s3-endpoint", "", "S3 server URL, e.g. https://s3.example.com:9000")
	f.StringVar(&opts.S3.Prefix, "s3-prefix", "", "Prefix of the object key")
	f.StringVar(&opts.S3.Region, "s3-region", "", "Bucket region (the API default applies when empty)")
	f.StringVar(&opts.S3.CredentialsSecret, "s3-credentials", "", "Secret with accessKeyID and secretAccessKey")
	f.BoolVar(&waitFor, "wait", false, "Wait until the backup is Completed or Failed and print the result")
	f.DurationVar(&timeout, "timeout", DefaultWaitTimeout, "How long --wait waits")
	return cmd
}

func etcdctlCommand(streams genericiooptions.IOStreams, clients ClientsFunc) *cobra.Command {
	var binary string
	cmd := &cobra.Command{
		Use:   "etcdctl NAME -- ARGS...",
		Short: "Run etcdctl against the cluster through port-forwards (endpoints set for you)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clients()
			if err != nil {
				return err
			}
			e := &Etcdctl{Client: c.Client, Clientset: c.Clientset, Config: c.Config, Binary: binary,
				Stdin: streams.In, Stdout: streams.Out, Stderr: streams.ErrOut}
			return e.Run(cmd.Context(), c.Namespace, args[0], args[1:])
		},
	}
	cmd.Flags().StringVar(&binary, "etcdctl", envOr("ETCDCTL", "etcdctl"), "The etcdctl binary to run ($ETCDCTL)")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
