package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/controllers/status"
)

// FencedExitCode is the node's exit code when it refuses to start because
// its data does not belong to the member the cluster expects.
const FencedExitCode = 3

// observe reads the StatefulSet, pods, PVCs, bootstrap ConfigMap and every
// node's raft status into s, once.
func (r *RaftClusterReconciler) observe(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	if err := r.observeObjects(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	if len(s.retainedPVCs) > 0 {
		// A new node on a retained volume would be fenced at best; at
		// worst a user deleting "the old" PVCs later deletes this
		// cluster's data. Refuse until the volumes are dealt with (PVCs
		// are not watched: re-check periodically).
		slices.Sort(s.retainedPVCs)
		s.terminal = &status.ReasonError{Reason: raftv1alpha1.ReasonRetainedVolumes,
			Err: fmt.Errorf("volumes retained from an earlier RaftCluster of this name exist: %s; "+
				"delete them, or recreate the earlier cluster to use them (see the README)", strings.Join(s.retainedPVCs, ","))}
		s.incomplete = true
		return reconcile.Result{RequeueAfter: ResyncPeriod}, nil
	}
	r.observeNodes(ctx, s)
	s.obs = r.buildObserved(s)
	s.observed = true
	return reconcile.Result{}, nil
}

func (r *RaftClusterReconciler) observeObjects(ctx context.Context, s *reconcileState) error {
	rc := s.rc
	sts := &appsv1.StatefulSet{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: specs.StatefulSetName(rc)}, sts); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("cannot get StatefulSet: %w", err)
	case !metav1.IsControlledBy(sts, rc):
		return s.nameConflict("StatefulSet", sts.Name)
	default:
		s.sts = sts
	}
	cm := &corev1.ConfigMap{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: specs.BootstrapConfigMapName(rc)}, cm); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("cannot get bootstrap ConfigMap: %w", err)
	case !metav1.IsControlledBy(cm, rc):
		// Taking a foreign ConfigMap for the bootstrap record could start
		// a second cluster or join the wrong one.
		return s.nameConflict("ConfigMap", cm.Name)
	default:
		s.bootstrap = cm
	}
	sel := client.MatchingLabels(specs.SelectorLabels(rc))
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rc.Namespace), sel); err != nil {
		return fmt.Errorf("cannot list pods: %w", err)
	}
	for i := range pods.Items {
		if n := membership.Ordinal(rc.Name, pods.Items[i].Name); n >= 0 {
			s.pods[n] = &pods.Items[i]
		}
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &pvcs, client.InNamespace(rc.Namespace), sel); err != nil {
		return fmt.Errorf("cannot list PVCs: %w", err)
	}
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		pod, ok := strings.CutPrefix(pvc.Name, specs.DataVolume+"-")
		n := membership.Ordinal(rc.Name, pod)
		switch uid, labelled := pvc.Labels[specs.LabelClusterUID]; {
		case !ok || n < 0:
		case labelled && uid != string(rc.UID) && retained(pvc):
			s.retainedPVCs = append(s.retainedPVCs, pvc.Name)
		case labelled && uid != string(rc.UID):
			s.foreignPVCs = append(s.foreignPVCs, pvc)
		default:
			s.pvcs[n] = pvc
		}
	}
	return nil
}

// retained reports a PVC an earlier cluster kept on purpose (reclaimPolicy
// Retain): no owner will delete it and it is not being deleted. A PVC of an
// earlier cluster with reclaimPolicy Delete is owned by that cluster's
// StatefulSet (the StatefulSet controller sets the reference for
// whenDeleted: Delete), so the garbage collector deletes it anyway.
func retained(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.DeletionTimestamp.IsZero() && len(pvc.OwnerReferences) == 0
}

// nameConflict ends the loop on an object of a derived name that belongs
// to something else: Degraded NameConflict, terminal (a user must rename or
// remove one of the two).
func (s *reconcileState) nameConflict(kind, name string) error {
	s.terminal = &status.ReasonError{Reason: raftv1alpha1.ReasonNameConflict,
		Err: fmt.Errorf("%w: %s %s exists and is not owned by this RaftCluster", errTerminal, kind, name)}
	return reconcile.TerminalError(s.terminal)
}

// observeNodes asks every pod's node for its status, in parallel. A node
// that does not answer is simply absent from s.statuses: unhealthy.
func (r *RaftClusterReconciler) observeNodes(ctx context.Context, s *reconcileState) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pod := range s.pods {
		if pod.Status.PodIP == "" && pod.Status.Phase != corev1.PodRunning {
			continue
		}
		wg.Add(1)
		go func(pod string) {
			defer wg.Done()
			st, err := r.Nodes.Status(ctx, r.endpoint(s, pod))
			if err == nil {
				mu.Lock()
				s.statuses[pod] = st
				mu.Unlock()
				return
			}
			log.FromContext(ctx).V(1).Info("Node did not answer status", "pod", pod, "err", err.Error())
			// A fenced node closed its client port but says why on its
			// status page until it exits.
			if reason, ferr := r.Nodes.Fenced(ctx, r.endpoint(s, pod)); ferr == nil && reason != "" {
				mu.Lock()
				s.fencedReasons[pod] = reason
				mu.Unlock()
			}
		}(pod.Name)
	}
	wg.Wait()
	s.leader = findLeader(s.statuses)
}

// findLeader returns the status of the node that leads: it says so, and a
// majority of the voters any answering node knows of (the union of their
// configurations, so a node with a partial view cannot vouch for itself)
// answered naming it as their leader. That keeps the operator from acting
// through a node that only believes it leads: deposed and not yet told, or
// restarting with a partial view of the configuration. Among several, the
// highest term wins.
func findLeader(statuses map[string]*nodeclient.Status) *nodeclient.Status {
	known := map[uint64]bool{}
	for _, st := range statuses {
		for _, id := range slices.Concat(st.Voters, st.VotersOutgoing) {
			known[id] = true
		}
	}
	var leader *nodeclient.Status
	for _, st := range statuses {
		if st.Role != "Leader" || st.Leader != st.ID || (leader != nil && st.Term <= leader.Term) {
			continue
		}
		acks := 0
		for _, other := range statuses {
			if known[other.ID] && other.Leader == st.ID {
				acks++
			}
		}
		if acks >= membership.Quorum(len(known)) {
			leader = st
		}
	}
	return leader
}

func (r *RaftClusterReconciler) endpoint(s *reconcileState, pod string) nodeclient.Endpoint {
	return nodeclient.Endpoint{Namespace: s.rc.Namespace, Service: specs.PeerServiceName(s.rc), Pod: pod}
}

// buildObserved turns the raw observation into the planner's view.
func (r *RaftClusterReconciler) buildObserved(s *reconcileState) membership.Observed {
	o := membership.Observed{
		Bootstrapped: s.bootstrap != nil && s.bootstrap.Data[specs.KeyInitialClusterState] == specs.StateExisting,
		Pods:         map[int]membership.Pod{},
		Volumes:      map[int]bool{},
		Operation:    s.rc.Status.Operation,
	}
	if s.sts != nil && s.sts.Spec.Replicas != nil {
		o.StatefulSetReplicas = int(*s.sts.Spec.Replicas)
	}
	hash := specs.PodTemplate(s.rc, r.Specs).Annotations[specs.AnnotationTemplateHash]
	for n, pod := range s.pods {
		p := membership.Pod{Name: pod.Name, Ordinal: n, Ready: podReady(pod), Terminating: !pod.DeletionTimestamp.IsZero(),
			Fenced: podFenced(pod) || s.fencedReasons[pod.Name] != "", UpToDate: pod.Annotations[specs.AnnotationTemplateHash] == hash}
		if p.Fenced {
			s.fenced = append(s.fenced, pod.Name)
		}
		o.Pods[n] = p
	}
	for n := range s.pvcs {
		o.Volumes[n] = true
	}
	if s.leader == nil {
		o.Members = answeringMembers(s)
		return o
	}
	o.LeaderID, o.Commit, o.Joint = s.leader.ID, s.leader.Commit, s.leader.Joint || len(s.leader.VotersOutgoing) > 0
	for _, m := range s.leader.Members {
		o.Members = append(o.Members, r.observedMember(s, m.ID, m.Name, m.IsLearner))
	}
	for _, id := range s.leader.VotersOutgoing {
		if slices.ContainsFunc(o.Members, func(m membership.Member) bool { return m.ID == id }) {
			continue
		}
		// The node no longer lists a voter it is removing, but the joint
		// configuration still needs it: keep it a member under the name
		// its pod answers with, or the one status last recorded.
		mm := r.observedMember(s, id, outgoingName(s, id), false)
		mm.Outgoing = true
		o.Members = append(o.Members, mm)
	}
	return o
}

// observedMember is member id as this loop saw it: healthy when its pod
// answered with this ID and, unless it leads, the leader follows it.
func (r *RaftClusterReconciler) observedMember(s *reconcileState, id uint64, name string, learner bool) membership.Member {
	st := s.statuses[name]
	pr := s.leader.Progress[id]
	mm := membership.Member{ID: id, Name: name, Ordinal: membership.Ordinal(s.rc.Name, name), Learner: learner, Match: pr.Match,
		Healthy: st != nil && st.ID == id, Promotable: pr.Promotable}
	if id == s.leader.ID {
		mm.Match = max(mm.Match, s.leader.Commit)
	} else if mm.Healthy && !learner {
		// A learner's health is its own answer: the planner waits for it
		// to catch up (CaughtUp) before promoting it anyway.
		mm.Healthy = membership.FollowedByLeader(pr.RecentActive, pr.Match, s.leader.Commit)
	}
	return mm
}

// outgoingName finds the name of an outgoing voter the leader no longer
// lists: the pod answering with its ID, else the name status recorded.
func outgoingName(s *reconcileState, id uint64) string {
	for name, st := range s.statuses {
		if st.ID == id {
			return name
		}
	}
	for _, m := range s.rc.Status.Members {
		if m.ID == fmt.Sprintf("%x", id) {
			return m.Name
		}
	}
	return ""
}

// answeringMembers is the membership as the nodes that answer report it,
// for status while no leader is known: each member listed by any answering
// node, healthy when its own pod answered with its ID. No decision reads
// it (every change first needs a leader).
func answeringMembers(s *reconcileState) []membership.Member {
	seen := map[uint64]bool{}
	var out []membership.Member
	for _, name := range slices.Sorted(maps.Keys(s.statuses)) {
		for _, m := range s.statuses[name].Members {
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			st := s.statuses[m.Name]
			out = append(out, membership.Member{ID: m.ID, Name: m.Name, Ordinal: membership.Ordinal(s.rc.Name, m.Name),
				Learner: m.IsLearner, Healthy: st != nil && st.ID == m.ID})
		}
	}
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podFenced reports a node that exited with FencedExitCode and is not
// running now (a running container's last state may still show the exit
// code of an earlier, fenced, start).
func podFenced(pod *corev1.Pod) bool {
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name != specs.ContainerName || c.State.Running != nil {
			continue
		}
		if t := c.State.Terminated; t != nil && t.ExitCode == FencedExitCode {
			return true
		}
		if t := c.LastTerminationState.Terminated; t != nil && t.ExitCode == FencedExitCode {
			return true
		}
	}
	return false
}
