//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// raftCluster is one RaftCluster under test and the means to look at it.
type raftCluster struct {
	s    *suite
	ns   string
	name string
	d    *nodeDialer
}

// clusterManifest is the YAML a user would kubectl apply (the shape of
// config/samples), with the version tag we built.
func clusterManifest(ns, name string, replicas int, version string) string {
	return fmt.Sprintf(`apiVersion: raft.kuberaft.io/v1alpha1
kind: RaftCluster
metadata:
  name: %s
  namespace: %s
spec:
  replicas: %d
  version: %s
  storage:
    size: 256Mi
  resources:
    requests:
      cpu: 100m
      memory: 64Mi
    limits:
      cpu: "1"
      memory: 512Mi
`, name, ns, replicas, version)
}

// applyCluster creates a RaftCluster with kubectl apply.
func (s *suite) applyCluster(t *testing.T, ns, name string, replicas int, version string) *raftCluster {
	t.Helper()
	s.mustKubectl(t, clusterManifest(ns, name, replicas, version), "apply", "-f", "-")
	rc := &raftCluster{s: s, ns: ns, name: name}
	rc.d = newNodeDialer(rc.podTLS)
	t.Cleanup(rc.d.close)
	return rc
}

func (rc *raftCluster) get(ctx context.Context) (*raftv1.RaftCluster, error) {
	var obj raftv1.RaftCluster
	err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: rc.name}, &obj)
	return &obj, err
}

// converged reports whether the resource and every node agree that the
// cluster has exactly replicas voters, no learner, no joint configuration,
// one leader, and nothing in flight; msg says what is missing.
func (rc *raftCluster) converged(ctx context.Context, replicas int) (bool, string, []e2echeck.Sample) {
	obj, err := rc.get(ctx)
	if err != nil {
		return false, err.Error(), nil
	}
	st := obj.Status
	avail := meta.FindStatusCondition(st.Conditions, raftv1.ConditionAvailable)
	switch {
	case st.ObservedGeneration < obj.Generation:
		return false, fmt.Sprintf("observedGeneration %d < generation %d", st.ObservedGeneration, obj.Generation), nil
	case avail == nil || avail.Status != metav1.ConditionTrue:
		return false, fmt.Sprintf("Available is %v", avail), nil
	case st.Operation != nil:
		return false, fmt.Sprintf("operation %s/%s in flight", st.Operation.Type, st.Operation.Step), nil
	case st.Joint:
		return false, "status.joint is true", nil
	case int(st.ReadyReplicas) != replicas || len(st.Members) != replicas:
		return false, fmt.Sprintf("readyReplicas %d, %d members, want %d", st.ReadyReplicas, len(st.Members), replicas), nil
	}
	snap, err := rc.s.snapshot(ctx, rc.d, rc.ns)
	if err != nil {
		return false, err.Error(), snap
	}
	if len(snap) != replicas {
		return false, fmt.Sprintf("%d nodes answer, want %d", len(snap), replicas), snap
	}
	want := snap[0].Config()
	for _, smp := range snap {
		switch {
		case len(smp.Voters) != replicas || len(smp.VotersOutgoing) > 0 || len(smp.Learners) > 0:
			return false, fmt.Sprintf("%s sees %s learners %v", smp.Pod, smp.Config(), smp.Learners), snap
		case smp.Config() != want:
			return false, fmt.Sprintf("%s sees %s, %s sees %s", smp.Pod, smp.Config(), snap[0].Pod, want), snap
		case smp.Leader == 0 || smp.Leader != snap[0].Leader:
			return false, fmt.Sprintf("%s sees leader %x, %s sees %x", smp.Pod, smp.Leader, snap[0].Pod, snap[0].Leader), snap
		}
	}
	return true, "", snap
}

// waitConverged waits until converged and returns the nodes' final view.
func (rc *raftCluster) waitConverged(t *testing.T, replicas int, timeout time.Duration) []e2echeck.Sample {
	t.Helper()
	var snap []e2echeck.Sample
	eventually(t, timeout, time.Second, fmt.Sprintf("RaftCluster %s/%s to converge on %d voters", rc.ns, rc.name, replicas),
		func(ctx context.Context) (bool, string) {
			ok, msg, s := rc.converged(ctx, replicas)
			snap = s
			return ok, msg
		})
	return snap
}

// podOf maps a raft ID to the pod that reported it.
func podOf(snap []e2echeck.Sample, id uint64) string {
	for _, smp := range snap {
		if smp.ID == id {
			return smp.Pod
		}
	}
	return ""
}

// idOf maps a pod name to the raft ID it reported.
func idOf(snap []e2echeck.Sample, pod string) uint64 {
	for _, smp := range snap {
		if smp.Pod == pod {
			return smp.ID
		}
	}
	return 0
}

// pod returns one pod of the cluster.
func (rc *raftCluster) pod(ctx context.Context, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: name}, &p)
	return &p, err
}

// clientEndpoint is the client Service's ClusterIP:port, reachable from the
// host on the local cluster (kube-proxy DNATs it to a ready member).
func (rc *raftCluster) clientEndpoint(t *testing.T) string {
	t.Helper()
	var endpoint string
	eventually(t, time.Minute, time.Second, "client Service "+rc.name, func(ctx context.Context) (bool, string) {
		var svc corev1.Service
		if err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: rc.name}, &svc); err != nil {
			return false, err.Error()
		}
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
			return false, "service has no ClusterIP"
		}
		port := int32(clientPort)
		for _, p := range svc.Spec.Ports {
			if p.Name == "client" || p.Port == clientPort {
				port = p.Port
			}
		}
		endpoint = net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))
		if err := rc.registerService(ctx, endpoint); err != nil {
			return false, err.Error()
		}
		// A new Service answers only once kube-proxy has programmed it;
		// until then a connection to its ClusterIP goes nowhere useful (a
		// CI run once got an HTTP 404 from off-host). Status is read-only,
		// so probing it changes nothing.
		if err := probeStatus(ctx, endpoint); err != nil {
			return false, fmt.Sprintf("service %s not answering yet: %v", endpoint, err)
		}
		return true, ""
	})
	return endpoint
}

// probeStatus asks the member behind endpoint for its Maintenance.Status.
func probeStatus(ctx context.Context, endpoint string) error {
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = cli.Status(ctx, endpoint)
	return err
}

// roleLabels returns pod name -> raft.kuberaft.io/role label.
func (rc *raftCluster) roleLabels(ctx context.Context) (map[string]string, error) {
	pods, err := rc.s.pods(ctx, rc.ns)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = p.Labels["raft.kuberaft.io/role"]
	}
	return out, nil
}

// pvcNames lists the PVCs of the namespace, sorted.
func (rc *raftCluster) pvcNames(ctx context.Context) ([]string, error) {
	var list corev1.PersistentVolumeClaimList
	if err := rc.s.c.List(ctx, &list, client.InNamespace(rc.ns)); err != nil {
		return nil, err
	}
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// claimOf returns the PVC name a pod mounts.
func claimOf(p *corev1.Pod) string {
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

// scale runs kubectl scale on the RaftCluster (the scale subresource).
func (rc *raftCluster) scale(t *testing.T, replicas int) {
	t.Helper()
	rc.s.mustKubectl(t, "", "-n", rc.ns, "scale", "raftcluster/"+rc.name, "--replicas="+strconv.Itoa(replicas))
}

// getWide is `kubectl get raftcluster -o wide` for the cluster.
func (rc *raftCluster) getWide(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(rc.s.mustKubectl(t, "", "-n", rc.ns, "get", "raftcluster", rc.name, "-o", "wide"))
}
