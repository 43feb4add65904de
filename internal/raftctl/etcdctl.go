package raftctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// Etcdctl runs the user's etcdctl against a cluster through one
// port-forward per ready member pod (client-go's portforward, what
// `kubectl port-forward` uses), so it works wherever kubectl does.
type Etcdctl struct {
	Client    client.Client
	Clientset kubernetes.Interface
	Config    *rest.Config
	// Binary is the etcdctl to run.
	Binary         string
	Stdout, Stderr io.Writer
	Stdin          io.Reader
}

// Run forwards the members' client ports to 127.0.0.1 and runs
// `etcdctl --endpoints=<all of them> args...`; it returns etcdctl's error
// (an *exec.ExitError carries its exit code).
func (e *Etcdctl) Run(ctx context.Context, namespace, name string, args []string) error {
	rc := &raftv1alpha1.RaftCluster{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, rc); err != nil {
		return fmt.Errorf("cannot get RaftCluster %s/%s: %w", namespace, name, err)
	}
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels(specs.SelectorLabels(rc))); err != nil {
		return fmt.Errorf("cannot list the member pods: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes every forward
	var endpoints []string
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			fmt.Fprintf(e.Stderr, "kubectl-raft: skipping %s: pod is %s\n", p.Name, p.Status.Phase)
			continue
		}
		port, err := e.forward(ctx, namespace, p.Name)
		if err != nil {
			fmt.Fprintf(e.Stderr, "kubectl-raft: skipping %s: %v\n", p.Name, err)
			continue
		}
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", port))
	}
	if len(endpoints) == 0 {
		return fmt.Errorf("no member of %s/%s could be port-forwarded", namespace, name)
	}
	cmd := exec.CommandContext(ctx, e.Binary, append([]string{"--endpoints=" + strings.Join(endpoints, ",")}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	return cmd.Run()
}

// forward opens a port-forward from a free local port to the pod's client
// port and returns the local port once the forward is ready.
func (e *Etcdctl) forward(ctx context.Context, namespace, pod string) (uint16, error) {
	url := e.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(e.Config)
	if err != nil {
		return 0, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", specs.ClientPort)},
		ctx.Done(), ready, io.Discard, e.Stderr)
	if err != nil {
		return 0, err
	}
	failed := make(chan error, 1)
	go func() { failed <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-failed:
		return 0, fmt.Errorf("port-forward: %w", err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return 0, errors.Join(errors.New("port-forward has no local port"), err)
	}
	return ports[0].Local, nil
}
