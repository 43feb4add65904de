// Package status computes a RaftCluster's conditions with pure setters and
// writes its status through one patch helper (re-get, mutate, skip no-op,
// optimistic lock, retry on conflict).
package status

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
)

// Health is what the condition setters read.
type Health struct {
	Bootstrapped  bool
	LeaderKnown   bool
	Voters        int
	HealthyVoters int
	// Unhealthy and Fenced name members that did not answer or that refuse
	// to start.
	Unhealthy []string
	Fenced    []string
}

// SetAvailable sets Available: True when a leader is known and a quorum of
// voters is healthy.
func SetAvailable(conds *[]metav1.Condition, h Health, generation int64) {
	c := metav1.Condition{Type: raftv1alpha1.ConditionAvailable, ObservedGeneration: generation}
	switch {
	case !h.Bootstrapped && !h.LeaderKnown:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, raftv1alpha1.ReasonBootstrapping, "the cluster is being created"
	case !h.LeaderKnown && !h.quorumLost():
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, raftv1alpha1.ReasonNoLeader, "no member reports a leader"
	case h.quorumLost():
		c.Status, c.Reason = metav1.ConditionFalse, raftv1alpha1.ReasonQuorumLost
		c.Message = fmt.Sprintf("%d of %d voters are healthy; a quorum needs %d", h.HealthyVoters, h.Voters, membership.Quorum(h.Voters))
	default:
		c.Status, c.Reason = metav1.ConditionTrue, raftv1alpha1.ReasonQuorumHealthy
		c.Message = fmt.Sprintf("%d of %d voters are healthy", h.HealthyVoters, h.Voters)
	}
	meta.SetStatusCondition(conds, c)
}

// quorumLost reports fewer healthy voters than a quorum of the known ones.
// With no leader the known voters are those the answering nodes list, so
// an outage where no node answers at all (no voter known) reads as
// NoLeader, not as a lost quorum of zero.
func (h Health) quorumLost() bool {
	return h.Voters > 0 && h.HealthyVoters < membership.Quorum(h.Voters)
}

// ReasonError is a terminal error that names the Degraded reason it is
// reported with (a misconfiguration other than an invalid spec, such as a
// name conflict or retained volumes).
type ReasonError struct {
	Reason string
	Err    error
}

func (e *ReasonError) Error() string { return e.Err.Error() }
func (e *ReasonError) Unwrap() error { return e.Err }

// SetProgressing sets Progressing from the planner's step: True while a
// change is being made or awaited, with the step as reason.
func SetProgressing(conds *[]metav1.Condition, step membership.Step, generation int64) {
	c := metav1.Condition{Type: raftv1alpha1.ConditionProgressing, ObservedGeneration: generation,
		Reason: step.Reason, Message: step.Message}
	if c.Reason == "" {
		c.Reason = raftv1alpha1.ReasonReconciled
	}
	if step.Action == membership.ActionNone || step.Reason == raftv1alpha1.ReasonPaused {
		c.Status = metav1.ConditionFalse
	} else {
		c.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, c)
}

// SetDegraded sets Degraded: True when the spec cannot be carried out
// (terminal: InvalidSpec or the ReasonError's reason), when a formed
// cluster has no leader (QuorumLost when too few voters answer, else
// NoLeader), or when members are fenced or unhealthy.
func SetDegraded(conds *[]metav1.Condition, h Health, terminal error, generation int64) {
	c := metav1.Condition{Type: raftv1alpha1.ConditionDegraded, ObservedGeneration: generation}
	var re *ReasonError
	switch {
	case errors.As(terminal, &re):
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, re.Reason, terminal.Error()
	case terminal != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, raftv1alpha1.ReasonInvalidSpec, terminal.Error()
	case h.Bootstrapped && !h.LeaderKnown && h.quorumLost():
		c.Status, c.Reason = metav1.ConditionTrue, raftv1alpha1.ReasonQuorumLost
		c.Message = fmt.Sprintf("no leader: %d of %d voters answer; a quorum needs %d (not answering: %v)",
			h.HealthyVoters, h.Voters, membership.Quorum(h.Voters), h.Unhealthy)
	case h.Bootstrapped && !h.LeaderKnown:
		c.Status, c.Reason = metav1.ConditionTrue, raftv1alpha1.ReasonNoLeader
		c.Message = fmt.Sprintf("no leader is known; %d of %d known voters answer", h.HealthyVoters, h.Voters)
	case len(h.Fenced) > 0:
		c.Status, c.Reason = metav1.ConditionTrue, raftv1alpha1.ReasonMemberFenced
		c.Message = fmt.Sprintf("members refuse to start and will be replaced: %v", h.Fenced)
	case len(h.Unhealthy) > 0:
		c.Status, c.Reason = metav1.ConditionTrue, raftv1alpha1.ReasonMembersUnhealthy
		c.Message = fmt.Sprintf("members not answering: %v", h.Unhealthy)
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, raftv1alpha1.ReasonMembersHealthy, "every member is healthy"
	}
	meta.SetStatusCondition(conds, c)
}
