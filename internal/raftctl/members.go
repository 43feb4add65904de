package raftctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/node/health"
)

// MemberTimeout bounds one member's /status call: an unreachable member
// must not hold up the whole screen.
const MemberTimeout = 3 * time.Second

// MemberClient reads one member pod's live /status.
type MemberClient interface {
	Status(ctx context.Context, namespace, pod string) (*health.StatusJSON, error)
}

// ProxyMemberClient reads /status through the API server's pod proxy
// (GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/status): it needs only
// the kubeconfig, no network path to the pods.
type ProxyMemberClient struct {
	Clientset kubernetes.Interface
}

// Status implements MemberClient.
func (c ProxyMemberClient) Status(ctx context.Context, namespace, pod string) (*health.StatusJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, MemberTimeout)
	defer cancel()
	body, err := c.Clientset.CoreV1().Pods(namespace).
		ProxyGet("http", pod, strconv.Itoa(specs.MetricsPort), "/status", nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /status through the pod proxy: %w", err)
	}
	var st health.StatusJSON
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("cannot decode /status: %w", err)
	}
	return &st, nil
}
