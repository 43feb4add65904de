package controllers

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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
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
		s.terminal = fmt.Errorf("%w: StatefulSet %s exists and is not owned by this RaftCluster", errTerminal, sts.Name)
		return reconcile.TerminalError(s.terminal)
	default:
		s.sts = sts
	}
	cm := &corev1.ConfigMap{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: specs.BootstrapConfigMapName(rc)}, cm); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("cannot get bootstrap ConfigMap: %w", err)
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
		case labelled && uid != string(rc.UID):
			s.foreignPVCs = append(s.foreignPVCs, pvc)
		default:
			s.pvcs[n] = pvc
		}
	}
	return nil
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
		return o
	}
	o.LeaderID, o.Commit, o.Joint = s.leader.ID, s.leader.Commit, s.leader.Joint || len(s.leader.VotersOutgoing) > 0
	for _, m := range s.leader.Members {
		st := s.statuses[m.Name]
		mm := membership.Member{ID: m.ID, Name: m.Name, Ordinal: membership.Ordinal(s.rc.Name, m.Name), Learner: m.IsLearner,
			Healthy: st != nil && st.ID == m.ID, Match: s.leader.Progress[m.ID].Match, Promotable: s.leader.Progress[m.ID].Promotable}
		if m.ID == s.leader.ID {
			mm.Match = max(mm.Match, s.leader.Commit)
		}
		o.Members = append(o.Members, mm)
	}
	return o
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
