package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/controllers/status"
)

// writeStatus writes the loop's status once: members, leader, counts and
// conditions from what was observed; observedGeneration only when the loop
// succeeded. A loop that could not observe only reports a terminal error.
func (r *RaftClusterReconciler) writeStatus(ctx context.Context, s *reconcileState, loopErr error) error {
	gen := s.rc.Generation
	terminal := s.terminal
	if terminal == nil && errors.Is(loopErr, reconcile.TerminalError(nil)) {
		terminal = loopErr
	}
	live := r.liveFiguresDue(types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name})
	mutate := func(st *raftv1alpha1.RaftClusterStatus) {
		if s.observed {
			r.observedStatus(s, st, live)
		}
		if s.observed || terminal != nil {
			status.SetDegraded(&st.Conditions, s.health(), terminal, gen)
		}
		setRecovering(&st.Conditions, s.recovering, gen)
		if s.restore != nil {
			status.SetRestored(&st.Conditions, s.restore.Reason, s.restore.Message, gen)
		}
		if len(s.certs) > 0 || !s.rc.TLSEnabled() {
			st.Certificates = s.certs
			status.SetCertificatesReady(&st.Conditions, s.rc.TLSEnabled(), s.certs, s.caRotating, r.now(), gen)
		}
		if loopErr == nil && !s.incomplete {
			st.ObservedGeneration = gen
		}
	}
	written, err := status.Patch(ctx, r.Client, types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name}, mutate)
	if err == nil {
		observeClusterMetrics(s.rc, written, r.now())
	}
	if loopErr != nil {
		return loopErr
	}
	if apierrors.IsNotFound(err) {
		return nil // deleted during the loop
	}
	return err
}

// observedStatus fills the status fields computed from the observation.
// Unless live is set, each member's live figures (term, commit and applied
// index, lag) keep their written values, so that a loop where only they
// moved writes nothing (see LiveFiguresPeriod).
func (r *RaftClusterReconciler) observedStatus(s *reconcileState, st *raftv1alpha1.RaftClusterStatus, live bool) {
	gen := s.rc.Generation
	previous := st.Members
	st.Members = r.memberStatuses(s)
	if !live {
		keepLiveFigures(st.Members, previous)
	}
	st.Replicas = int32(len(st.Members))
	st.ReadyReplicas = 0
	for _, m := range st.Members {
		if m.Healthy {
			st.ReadyReplicas++
		}
	}
	st.Selector = metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: specs.SelectorLabels(s.rc)})
	st.Leader = ""
	if l, ok := s.obs.Leader(); ok {
		st.Leader = l.Name
	}
	st.CurrentVersion = r.currentVersion(s)
	st.FailureTolerance = int32(s.obs.FailureTolerance())
	st.Joint = s.obs.Joint
	if s.step.Action == membership.ActionNone {
		st.Operation = nil
	} else if s.rc.Status.Operation != nil {
		st.Operation = s.rc.Status.Operation
	}
	status.SetAvailable(&st.Conditions, s.health(), gen)
	if s.step.Action != "" {
		status.SetProgressing(&st.Conditions, s.step, gen)
	}
}

// LiveFiguresPeriod is how often a member's live figures (term, commit and
// applied index, lag) are written to status when nothing else changed: they
// move with every write to the cluster, and patching status on each loop
// for them would cost an API write (and a watch event to every client) per
// loop and per cluster. What a user acts on (health, roles, leader,
// conditions, membership) is written as soon as it changes.
const LiveFiguresPeriod = time.Minute

// liveFiguresDue reports whether this loop may write cluster key's live
// figures, and if so starts a new period.
func (r *RaftClusterReconciler) liveFiguresDue(key types.NamespacedName) bool {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	if r.liveWritten == nil {
		r.liveWritten = map[types.NamespacedName]time.Time{}
	}
	now := r.now()
	if last, ok := r.liveWritten[key]; ok && now.Sub(last) < LiveFiguresPeriod {
		return false
	}
	r.liveWritten[key] = now
	return true
}

// keepLiveFigures copies the live figures of previous into members of the
// same name.
func keepLiveFigures(members, previous []raftv1alpha1.MemberStatus) {
	for i := range members {
		for _, p := range previous {
			if p.Name == members[i].Name {
				members[i].Term, members[i].CommitIndex, members[i].AppliedIndex, members[i].Lag =
					p.Term, p.CommitIndex, p.AppliedIndex, p.Lag
			}
		}
	}
}

func (r *RaftClusterReconciler) memberStatuses(s *reconcileState) []raftv1alpha1.MemberStatus {
	out := make([]raftv1alpha1.MemberStatus, 0, len(s.obs.Members))
	for _, m := range s.obs.Members {
		if m.Name == "" {
			continue // an outgoing voter whose name nothing recorded
		}
		ms := raftv1alpha1.MemberStatus{Name: m.Name, ID: fmt.Sprintf("%x", m.ID), Healthy: m.Healthy,
			Role: raftv1alpha1.MemberRole(strings.ToUpper(roleLabel(m, s.obs.LeaderID)[:1]) + roleLabel(m, s.obs.LeaderID)[1:])}
		if s.obs.Commit > m.Match {
			ms.Lag = int64(s.obs.Commit - m.Match)
		}
		if st := s.statuses[m.Name]; m.Healthy && st != nil {
			ms.Term, ms.CommitIndex, ms.AppliedIndex, ms.Version = int64(st.Term), int64(st.Commit), int64(st.Applied), st.Version
		}
		if pod := s.pods[m.Ordinal]; ms.Version == "" && pod != nil {
			ms.Version = imageTag(podImage(pod))
		}
		out = append(out, ms)
	}
	slices.SortFunc(out, func(a, b raftv1alpha1.MemberStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// currentVersion is the version every member pod runs, or "" while they
// differ.
func (r *RaftClusterReconciler) currentVersion(s *reconcileState) string {
	images := map[string]bool{}
	for _, m := range s.obs.Members {
		if pod := s.pods[m.Ordinal]; pod != nil {
			images[podImage(pod)] = true
		}
	}
	if len(images) != 1 {
		return ""
	}
	for img := range images {
		if img == s.rc.DesiredImage() {
			return s.rc.VersionLabel()
		}
		return imageTag(img)
	}
	return ""
}

func podImage(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == specs.ContainerName {
			return c.Image
		}
	}
	return ""
}

func imageTag(image string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
		return image[i+1:]
	}
	return image
}

// health summarises the observation for the condition setters.
func (s *reconcileState) health() status.Health {
	h := status.Health{Bootstrapped: s.obs.Bootstrapped, LeaderKnown: s.obs.LeaderID != 0, Fenced: s.fenced}
	for _, m := range s.obs.Members {
		if !m.Learner {
			h.Voters++
			if m.Healthy {
				h.HealthyVoters++
			}
		}
		if !m.Healthy {
			h.Unhealthy = append(h.Unhealthy, m.Name)
		}
	}
	slices.Sort(h.Unhealthy)
	slices.Sort(h.Fenced)
	return h
}

// event records an event on the RaftCluster.
func (r *RaftClusterReconciler) event(s *reconcileState, eventType, reason, format string, args ...any) {
	r.eventAbout(s, nil, eventType, reason, format, args...)
}

// eventAbout records an event on the RaftCluster that concerns related.
// The events library merges events with the same regarding, related,
// reason and action into one series (keeping the first note), so events
// about different objects name them as related.
func (r *RaftClusterReconciler) eventAbout(s *reconcileState, related runtime.Object, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s.rc, related, eventType, reason, reason, format, args...)
	}
}
