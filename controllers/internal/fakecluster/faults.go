package fakecluster

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/controllers/specs"
)

// LoseVolume deletes pod's PVC and the pod, as when a node with local
// storage dies: the StatefulSet recreates the pod on an empty volume, and
// the node, still a voter, is fenced.
func (f *Cluster) LoseVolume(ctx context.Context, pod string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: specs.PVCName(pod)}}
	if err := f.c.Delete(ctx, pvc); client.IgnoreNotFound(err) != nil {
		return err
	}
	delete(f.nodes, pod)
	return client.IgnoreNotFound(f.c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: pod}}))
}

// ForeignVolume makes pod's data belong to another cluster and restarts
// its node, which is then fenced.
func (f *Cluster) ForeignVolume(ctx context.Context, pod string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pvc corev1.PersistentVolumeClaim
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: specs.PVCName(pod)}, &pvc); err != nil {
		return err
	}
	f.volumes[pvc.UID].clusterID = 0xBAD
	if nd := f.nodes[pod]; nd != nil {
		nd.running = false
	}
	return nil
}

// Leader returns the leader's name, or "".
func (f *Cluster) Leader() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.members[f.leader]; m != nil {
		return m.name
	}
	return ""
}

// SetLeader makes pod's member the leader (it must be a running voter).
func (f *Cluster) SetLeader(pod string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.byName(pod)
	if m == nil || m.learner || f.nodeOf(m.id) == nil {
		return false
	}
	f.leader = m.id
	f.term++
	return true
}

// Members returns name → learner for every member.
func (f *Cluster) Members() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, m := range f.members {
		out[m.name] = m.learner
	}
	return out
}

// AddForeignVolume creates pod's PVC as an earlier RaftCluster of the same
// name (another UID) left it, with that cluster's data on it. A retained
// PVC has no owner (reclaimPolicy Retain); otherwise the earlier cluster's
// StatefulSet owns it (reclaimPolicy Delete: garbage to be collected).
func (f *Cluster) AddForeignVolume(ctx context.Context, pod string, retained bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: specs.PVCName(pod),
		UID: f.newUID(), Labels: map[string]string{specs.LabelName: specs.AppName, specs.LabelCluster: f.name,
			specs.LabelClusterUID: "earlier-incarnation"}}}
	if !retained {
		pvc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: f.name, UID: "earlier-statefulset"}}
	}
	if err := f.c.Create(ctx, pvc); err != nil {
		return err
	}
	f.volumes[pvc.UID] = &volume{clusterID: 0xE1, memberID: 1}
	return nil
}
