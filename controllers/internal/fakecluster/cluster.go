// Package fakecluster simulates what the operator drives, for unit tests:
// the StatefulSet controller and kubelet (pods and PVCs in a fake
// Kubernetes client) and a raft cluster behind them (membership, leader,
// replication progress, fencing), reached through the NodeClient interface.
// Each Sync is one tick of that world; tests alternate Reconcile and Sync.
package fakecluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// Exit codes the fake node "exits" with, as the real node does.
const (
	exitFenced    = 3
	exitNotMember = 1
)

type member struct {
	id      uint64
	name    string
	peerURL string
	learner bool
	match   uint64
}

// node is one start of a node process in a pod.
type node struct {
	podUID  types.UID
	id      uint64 // 0 until it joined
	running bool
	exit    int32 // last exit code while not running
	ticks   int   // Syncs since it started running
	image   string
}

// volume is the data on one PVC.
type volume struct {
	clusterID uint64
	memberID  uint64
	// forced is the force ID this data was last forced with.
	forced string
}

// Cluster is the simulated world of one RaftCluster.
type Cluster struct {
	mu        sync.Mutex
	c         client.Client
	namespace string
	name      string

	clusterID uint64
	members   map[uint64]*member
	leader    uint64
	term      uint64
	commit    uint64
	nextID    uint64
	nodes     map[string]*node      // by pod name
	volumes   map[types.UID]*volume // by PVC UID
	uid       int

	// Unreachable pods fail every NodeClient call.
	Unreachable map[string]bool
	// VoterCounts records the number of voters after every applied change:
	// a joint change is atomic, so 3→5 must never record 4.
	VoterCounts []int
	// Rogue nodes claim to lead a configuration of their own, in a higher
	// term, as a node restarting with a partial view might.
	Rogue map[string]bool
	// StartDelay keeps a pod's node from starting for that many ticks (an
	// image pull, a slow volume).
	StartDelay map[string]int
	// FencedRunning shows fenced nodes as the real node is during its
	// grace period: container running, not ready, no exit code yet; only
	// the status page (NodeClient.Fenced) tells.
	FencedRunning bool
	// LoseReplies makes the next n mutations apply and then fail as if the
	// reply was lost (Unavailable).
	LoseReplies int
	// Calls logs every NodeClient mutation, e.g. "ChangeMembers[Promote(4),Promote(5)]".
	Calls []string

	// outgoing holds the voters of the outgoing half of a joint
	// configuration (nil when not joint), jointTicks the Syncs since it
	// was entered.
	outgoing   map[uint64]*member
	jointTicks int
	// LeaveDelay is how many Syncs a joint configuration lasts at least
	// before the leader leaves it (raft appends the leave entry once the
	// joint entry applied). With 0 and a quorum running, ChangeMembers
	// enters and leaves at once, as a quick node does within its call.
	LeaveDelay int
	// Stopped pods' nodes are down (not running, not restarted) while set.
	Stopped map[string]bool
	// CutOff pods' nodes run and answer the operator, but the leader does
	// not hear from them: not RecentActive, no replication, no vote.
	CutOff map[string]bool
	// ListOutgoing keeps outgoing voters in the member list while joint.
	// The real node drops them as soon as the joint configuration is
	// entered (node/kv/members.go), which is the default here too.
	ListOutgoing bool
}

// New returns an empty world for RaftCluster namespace/name.
func New(c client.Client, namespace, name string) *Cluster {
	return &Cluster{
		c: c, namespace: namespace, name: name, clusterID: 0xC1,
		members: map[uint64]*member{}, nodes: map[string]*node{}, volumes: map[types.UID]*volume{},
		nextID: 0x100, Unreachable: map[string]bool{}, StartDelay: map[string]int{}, Rogue: map[string]bool{},
		Stopped: map[string]bool{}, CutOff: map[string]bool{},
	}
}

// Sync runs one tick: the StatefulSet controller, node starts, the raft
// cluster, and pod status.
func (f *Cluster) Sync(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.syncStatefulSet(ctx); err != nil {
		return err
	}
	pods, err := f.pods(ctx)
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if err := f.syncNode(ctx, pod); err != nil {
			return err
		}
	}
	f.tickRaft()
	for _, pod := range pods {
		if err := f.writePodStatus(ctx, pod); err != nil {
			return err
		}
	}
	return nil
}

func (f *Cluster) pods(ctx context.Context) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := f.c.List(ctx, &list, client.InNamespace(f.namespace), client.MatchingLabels{specs.LabelCluster: f.name}); err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// syncStatefulSet plays the StatefulSet controller (Parallel, OnDelete):
// pods for ordinals below replicas, with a PVC each; pods above removed.
func (f *Cluster) syncStatefulSet(ctx context.Context) error {
	var sts appsv1.StatefulSet
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: f.name}, &sts); err != nil {
		return client.IgnoreNotFound(err)
	}
	replicas := int(*sts.Spec.Replicas)
	pods, err := f.pods(ctx)
	if err != nil {
		return err
	}
	have := map[int]bool{}
	for _, pod := range pods {
		n := membership.Ordinal(f.name, pod.Name)
		if n >= replicas {
			if err := f.c.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
				return err
			}
			delete(f.nodes, pod.Name)
			continue
		}
		have[n] = true
	}
	for n := range replicas {
		if !have[n] {
			if err := f.createPod(ctx, &sts, membership.MemberName(f.name, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *Cluster) newUID() types.UID {
	f.uid++
	return types.UID(fmt.Sprintf("uid-%d", f.uid))
}

func (f *Cluster) createPod(ctx context.Context, sts *appsv1.StatefulSet, name string) error {
	pvc := &corev1.PersistentVolumeClaim{}
	key := client.ObjectKey{Namespace: f.namespace, Name: specs.PVCName(name)}
	switch err := f.c.Get(ctx, key, pvc); {
	case apierrors.IsNotFound(err):
		tmpl := sts.Spec.VolumeClaimTemplates[0]
		pvc = &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace,
			Labels: tmpl.Labels, UID: f.newUID()}, Spec: tmpl.Spec}
		if err := f.c.Create(ctx, pvc); err != nil {
			return err
		}
		f.volumes[pvc.UID] = &volume{}
	case err != nil:
		return err
	case f.volumes[pvc.UID] == nil:
		// A claim someone else created (a restore creates the first
		// member's): the provisioner gives it an empty volume.
		f.volumes[pvc.UID] = &volume{}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace, UID: f.newUID(),
			Labels: sts.Spec.Template.Labels, Annotations: sts.Spec.Template.Annotations},
		Spec: *sts.Spec.Template.Spec.DeepCopy(),
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: specs.DataVolume, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}})
	return f.c.Create(ctx, pod)
}

// bootstrapConfig reads the pods' environment: the bootstrap ConfigMap.
func (f *Cluster) bootstrapConfig(ctx context.Context) (names []string, state string, err error) {
	var cm corev1.ConfigMap
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: f.name + "-bootstrap"}, &cm); err != nil {
		return nil, "", err
	}
	for _, entry := range strings.Split(cm.Data[specs.KeyInitialCluster], ",") {
		name, _, _ := strings.Cut(entry, "=")
		names = append(names, name)
	}
	return names, cm.Data[specs.KeyInitialClusterState], nil
}
