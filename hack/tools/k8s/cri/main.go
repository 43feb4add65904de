// Command cri is a minimal CRI client for the offline cluster (crictl is not
// on the module proxy). `rmpods` is what `local-cluster.sh down` needs:
// StopPodSandbox makes containerd kill the pod's containers, run CNI DEL and
// unmount, so no veth, netns or IP allocation is left behind.
//
//	cri [-endpoint unix:///run/kuberaft/containerd/containerd.sock] pods|containers|images|rmpods
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "unix:///run/kuberaft/containerd/containerd.sock", "CRI endpoint")
	timeout := flag.Duration("timeout", 60*time.Second, "overall deadline")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: cri [-endpoint URL] pods|containers|images|rmpods")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *endpoint, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoint, cmd string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	switch cmd {
	case "pods":
		return listPods(ctx, rt)
	case "containers":
		return listContainers(ctx, rt)
	case "images":
		return listImages(ctx, runtimeapi.NewImageServiceClient(conn))
	case "rmpods":
		return removePods(ctx, rt)
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func listPods(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	for _, p := range resp.Items {
		fmt.Printf("%.13s  %-40s %-20s %s\n", p.Id, p.Metadata.GetName(), p.Metadata.GetNamespace(), p.State)
	}
	return nil
}

func listContainers(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
	resp, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return err
	}
	for _, c := range resp.Containers {
		fmt.Printf("%.13s  %.13s  %-30s %-40s %s\n", c.Id, c.PodSandboxId, c.Metadata.GetName(), c.Image.GetImage(), c.State)
	}
	return nil
}

func listImages(ctx context.Context, is runtimeapi.ImageServiceClient) error {
	resp, err := is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return err
	}
	for _, img := range resp.Images {
		fmt.Printf("%.19s  %v  %d\n", img.Id, img.RepoTags, img.Size)
	}
	return nil
}

// removePods stops and removes every sandbox; it tries them all and reports
// every failure, so one stuck pod does not hide the others.
func removePods(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range resp.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop %s/%s: %w", p.Metadata.GetNamespace(), p.Metadata.GetName(), err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove %s/%s: %w", p.Metadata.GetNamespace(), p.Metadata.GetName(), err))
		}
	}
	fmt.Printf("removed %d pod sandboxes\n", len(resp.Items)-len(errs))
	return errors.Join(errs...)
}
