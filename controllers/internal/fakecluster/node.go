package fakecluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// syncNode (re)starts the node process of pod unless it is running: a
// crashed container is restarted every tick, like a kubelet without backoff.
func (f *Cluster) syncNode(ctx context.Context, pod *corev1.Pod) error {
	nd := f.nodes[pod.Name]
	if nd == nil || nd.podUID != pod.UID {
		nd = &node{podUID: pod.UID, image: pod.Spec.Containers[0].Image}
		f.nodes[pod.Name] = nd
	}
	if f.Stopped[pod.Name] {
		nd.running, nd.exit = false, 0
		return nil
	}
	if nd.running {
		nd.ticks++
		return nil
	}
	if f.StartDelay[pod.Name] > 0 {
		f.StartDelay[pod.Name]--
		return nil
	}
	var pvc corev1.PersistentVolumeClaim
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: specs.PVCName(pod.Name)}, &pvc); err != nil {
		return client.IgnoreNotFound(err) // no volume: the pod stays Pending
	}
	vol := f.volumes[pvc.UID]
	names, state, err := f.bootstrapConfig(ctx)
	if apierrors.IsNotFound(err) {
		nd.exit = exitNotMember
		return nil
	} else if err != nil {
		return err
	}
	if id, ok := forceID(pod); ok && vol.memberID != 0 && vol.forced != id {
		f.forceNewCluster(vol, pod.Name, id)
	}
	f.start(nd, pod.Name, vol, names, state)
	return nil
}

// forceID returns the --force-new-cluster-id of a pod whose node forces a
// new cluster (raftnode: --force-new-cluster, and
// --force-new-cluster-member naming this pod).
func forceID(pod *corev1.Pod) (string, bool) {
	args := pod.Spec.Containers[0].Args
	if !slices.Contains(args, "--force-new-cluster") || !slices.Contains(args, "--force-new-cluster-member="+pod.Name) {
		return "", false
	}
	for _, a := range args {
		if id, ok := strings.CutPrefix(a, "--force-new-cluster-id="); ok {
			return id, true
		}
	}
	return "", false
}

// forceNewCluster makes the member on vol the only voter of a new cluster
// ID, keeping its data, once per force ID, as raftnode does: every other
// volume now holds a foreign cluster's data.
func (f *Cluster) forceNewCluster(vol *volume, name, id string) {
	self := &member{id: vol.memberID, name: name, peerURL: "http://" + name, match: f.commit}
	if m := f.allMembers()[vol.memberID]; m != nil {
		self.peerURL = m.peerURL
	}
	f.clusterID++
	f.members = map[uint64]*member{self.id: self}
	f.outgoing, f.jointTicks, f.leader = nil, 0, 0
	vol.clusterID, vol.forced = f.clusterID, id
}

// start decides, as the real node does, whether the process may run:
// bootstrap members with empty data create the cluster; otherwise empty
// data joins only as a learner added by name; existing data must belong
// to a current member of this name and cluster, or the node is fenced.
func (f *Cluster) start(nd *node, name string, vol *volume, initial []string, state string) {
	run := func(id uint64) {
		nd.id, nd.running, nd.exit, nd.ticks = id, true, 0, 0
		vol.memberID, vol.clusterID = id, f.clusterID
	}
	if vol.memberID == 0 {
		if state == specs.StateNew && slices.Contains(initial, name) {
			if len(f.members) == 0 {
				for i, n := range initial {
					f.members[uint64(i+1)] = &member{id: uint64(i + 1), name: n, peerURL: "http://" + n}
				}
			}
			if m := f.byName(name); m != nil {
				run(m.id)
				return
			}
		}
		switch m := f.byName(name); {
		case m == nil:
			nd.exit = exitNotMember
		case !m.learner:
			nd.exit = exitFenced // empty data while the cluster records a voter
		default:
			m.match = 0
			run(m.id)
		}
		return
	}
	// An outgoing voter of a joint configuration restarts as itself: the
	// joint configuration still counts it.
	if m := f.allMembers()[vol.memberID]; vol.clusterID == f.clusterID && m != nil && m.name == name {
		run(m.id)
		return
	}
	nd.exit = exitFenced
}

func (f *Cluster) byName(name string) *member {
	for _, m := range f.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// nodeOf returns the running node of member id.
func (f *Cluster) nodeOf(id uint64) *node {
	for _, nd := range f.nodes {
		if nd.running && nd.id == id {
			return nd
		}
	}
	return nil
}

// connected reports whether member id's node runs and the leader hears
// from it: only such a member votes, acknowledges or replicates.
func (f *Cluster) connected(id uint64) bool {
	for pod, nd := range f.nodes {
		if nd.running && nd.id == id {
			return !f.CutOff[pod]
		}
	}
	return false
}

func (f *Cluster) voters() []*member {
	var out []*member
	for _, m := range f.members {
		if !m.learner {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *member) int { return membership.Ordinal(f.name, a.name) - membership.Ordinal(f.name, b.name) })
	return out
}

func (f *Cluster) runningVoters(vs []*member) int {
	n := 0
	for _, m := range vs {
		if f.connected(m.id) {
			n++
		}
	}
	return n
}

// tickRaft elects a leader when there is none (the running voter with the
// lowest ordinal, once a quorum runs), commits one entry when a quorum
// runs (of both halves while joint), leaves a joint configuration once it
// lasted LeaveDelay ticks and both halves have a quorum, and advances
// replication: voters at once, a learner one tick after it started (it has
// to catch up first).
func (f *Cluster) tickRaft() {
	vs := f.voters()
	quorate := len(vs) > 0 && f.runningVoters(vs) >= membership.Quorum(len(vs))
	if f.outgoing != nil {
		quorate = quorate && f.quorate(f.outgoing)
	}
	if f.leader != 0 && (f.nodeOf(f.leader) == nil || f.members[f.leader] == nil || f.members[f.leader].learner) {
		f.leader = 0
	}
	if f.leader == 0 && quorate {
		for _, m := range vs {
			if f.connected(m.id) {
				f.leader = m.id
				f.term++
				break
			}
		}
	}
	if f.leader == 0 || !quorate {
		return
	}
	f.commit++
	for _, m := range f.allMembers() {
		if nd := f.nodeOf(m.id); nd != nil && f.connected(m.id) && (!m.learner || nd.ticks >= 1) {
			m.match = f.commit
		}
	}
	if f.outgoing != nil {
		f.jointTicks++
		if f.jointTicks >= f.LeaveDelay {
			f.leaveJoint()
		}
	}
}

// leaveJoint makes the incoming configuration the only one.
func (f *Cluster) leaveJoint() {
	f.outgoing, f.jointTicks = nil, 0
	f.VoterCounts = append(f.VoterCounts, len(f.voters()))
}

// allMembers are the members and, while joint, the outgoing voters the
// incoming configuration no longer holds.
func (f *Cluster) allMembers() map[uint64]*member {
	out := maps.Clone(f.members)
	for id, m := range f.outgoing {
		if out[id] == nil {
			out[id] = m
		}
	}
	return out
}

func (f *Cluster) writePodStatus(ctx context.Context, pod *corev1.Pod) error {
	nd := f.nodes[pod.Name]
	if nd == nil {
		return nil
	}
	cs := corev1.ContainerStatus{Name: specs.ContainerName, Image: nd.image}
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.0.%d", membership.Ordinal(f.name, pod.Name)+10)}
	ready := corev1.ConditionFalse
	switch {
	case nd.running:
		cs.State.Running = &corev1.ContainerStateRunning{}
		// raftnode's /readyz requires a voter that knows a leader.
		if m := f.members[nd.id]; m != nil && !m.learner && f.leader != 0 {
			cs.Ready, ready = true, corev1.ConditionTrue
		}
	case nd.exit == exitFenced && f.FencedRunning:
		cs.State.Running = &corev1.ContainerStateRunning{}
	case nd.exit != 0:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: nd.exit}
	default:
		st.Phase, st.PodIP = corev1.PodPending, ""
	}
	st.ContainerStatuses = []corev1.ContainerStatus{cs}
	st.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}
	latest := &corev1.Pod{}
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(pod), latest); err != nil {
		return client.IgnoreNotFound(err)
	}
	latest.Status = st
	return f.c.Status().Update(ctx, latest)
}
