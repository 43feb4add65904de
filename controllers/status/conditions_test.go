package status

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
)

type want struct {
	status metav1.ConditionStatus
	reason string
}

func check(t *testing.T, conds []metav1.Condition, typ string, w want) {
	t.Helper()
	if len(conds) != 1 || conds[0].Type != typ || conds[0].Status != w.status || conds[0].Reason != w.reason {
		t.Errorf("conditions = %+v, want %s=%s/%s", conds, typ, w.status, w.reason)
	}
	if conds[0].ObservedGeneration != 7 {
		t.Errorf("observedGeneration = %d", conds[0].ObservedGeneration)
	}
}

func TestSetAvailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Health
		want want
	}{
		{"bootstrapping", Health{}, want{metav1.ConditionFalse, raftv1alpha1.ReasonBootstrapping}},
		{"no leader, quorum answers", Health{Bootstrapped: true, Voters: 3, HealthyVoters: 2}, want{metav1.ConditionFalse, raftv1alpha1.ReasonNoLeader}},
		{"no leader, quorum lost", Health{Bootstrapped: true, Voters: 3, HealthyVoters: 1}, want{metav1.ConditionFalse, raftv1alpha1.ReasonQuorumLost}},
		{"no leader, no node answers", Health{Bootstrapped: true}, want{metav1.ConditionFalse, raftv1alpha1.ReasonNoLeader}},
		{"quorum lost", Health{Bootstrapped: true, LeaderKnown: true, Voters: 5, HealthyVoters: 2}, want{metav1.ConditionFalse, raftv1alpha1.ReasonQuorumLost}},
		{"quorum", Health{Bootstrapped: true, LeaderKnown: true, Voters: 5, HealthyVoters: 3}, want{metav1.ConditionTrue, raftv1alpha1.ReasonQuorumHealthy}},
		{"single member", Health{Bootstrapped: true, LeaderKnown: true, Voters: 1, HealthyVoters: 1}, want{metav1.ConditionTrue, raftv1alpha1.ReasonQuorumHealthy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			SetAvailable(&conds, tc.h, 7)
			check(t, conds, raftv1alpha1.ConditionAvailable, tc.want)
		})
	}
}

func TestSetProgressing(t *testing.T) {
	for _, tc := range []struct {
		name string
		step membership.Step
		want want
	}{
		{"converged", membership.Step{Action: membership.ActionNone, Reason: raftv1alpha1.ReasonReconciled}, want{metav1.ConditionFalse, raftv1alpha1.ReasonReconciled}},
		{"paused", membership.Step{Action: membership.ActionWait, Reason: raftv1alpha1.ReasonPaused}, want{metav1.ConditionFalse, raftv1alpha1.ReasonPaused}},
		{"waiting", membership.Step{Action: membership.ActionWait, Reason: raftv1alpha1.ReasonWaitingLearners}, want{metav1.ConditionTrue, raftv1alpha1.ReasonWaitingLearners}},
		{"acting", membership.Step{Action: membership.ActionPromote, Reason: raftv1alpha1.ReasonPromoting}, want{metav1.ConditionTrue, raftv1alpha1.ReasonPromoting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			SetProgressing(&conds, tc.step, 7)
			check(t, conds, raftv1alpha1.ConditionProgressing, tc.want)
		})
	}
}

func TestSetDegraded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        Health
		terminal error
		want     want
	}{
		{"healthy", Health{}, nil, want{metav1.ConditionFalse, raftv1alpha1.ReasonMembersHealthy}},
		{"unhealthy", Health{Unhealthy: []string{"kv-1"}}, nil, want{metav1.ConditionTrue, raftv1alpha1.ReasonMembersUnhealthy}},
		{"fenced wins over unhealthy", Health{Unhealthy: []string{"kv-1"}, Fenced: []string{"kv-1"}}, nil, want{metav1.ConditionTrue, raftv1alpha1.ReasonMemberFenced}},
		{"terminal wins", Health{Fenced: []string{"kv-1"}}, errors.New("bad"), want{metav1.ConditionTrue, raftv1alpha1.ReasonInvalidSpec}},
		{"terminal with its own reason", Health{}, &ReasonError{Reason: raftv1alpha1.ReasonNameConflict, Err: errors.New("taken")},
			want{metav1.ConditionTrue, raftv1alpha1.ReasonNameConflict}},
		{"no leader, quorum answers", Health{Bootstrapped: true, Voters: 3, HealthyVoters: 2}, nil, want{metav1.ConditionTrue, raftv1alpha1.ReasonNoLeader}},
		{"no leader, quorum lost", Health{Bootstrapped: true, Voters: 3, HealthyVoters: 1, Unhealthy: []string{"kv-1", "kv-2"}}, nil,
			want{metav1.ConditionTrue, raftv1alpha1.ReasonQuorumLost}},
		{"no leader while bootstrapping is not degraded", Health{}, nil, want{metav1.ConditionFalse, raftv1alpha1.ReasonMembersHealthy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conds []metav1.Condition
			SetDegraded(&conds, tc.h, tc.terminal, 7)
			check(t, conds, raftv1alpha1.ConditionDegraded, tc.want)
		})
	}
}
