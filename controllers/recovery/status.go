package recovery

import (
	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/recovery/planner"
)

// Observe turns the cluster's reported voters into planner input.
// volumes tells which members still have their PVC. The status reports
// no last log index, so a member's commit index stands in for it (a lower
// bound: the at-risk estimate is then an upper bound).
func Observe(rc *raftv1alpha1.RaftCluster, volumes map[string]bool, lastObservedCommit uint64) planner.Observed {
	obs := planner.Observed{LastObservedCommit: lastObservedCommit}
	for _, m := range rc.Status.Members {
		if m.Role == raftv1alpha1.RoleLearner {
			continue // learners do not count for quorum and cannot survive
		}
		commit, applied := uint64(max(m.CommitIndex, 0)), uint64(max(m.AppliedIndex, 0))
		obs.Voters = append(obs.Voters, planner.Member{
			Name: m.Name, Reachable: m.Healthy, VolumeLost: !volumes[m.Name],
			Term: uint64(max(m.Term, 0)), Commit: commit, Applied: applied, LastIndex: max(commit, applied),
		})
	}
	return obs
}

// Status computes status.recovery from the observation, the previous
// status and the spec. While quorum holds it only tracks the highest
// commit index seen (the basis of the at-risk estimate); once quorum is
// lost it lists the voters and, when recovery is requested, the plan.
func Status(obs planner.Observed, prev *raftv1alpha1.RecoveryStatus, spec *raftv1alpha1.RecoverySpec) (*raftv1alpha1.RecoveryStatus, error) {
	out := &raftv1alpha1.RecoveryStatus{}
	if prev != nil {
		out.LastObservedCommit = prev.LastObservedCommit
	}
	if len(obs.Voters) == 0 || !formed(obs, out.LastObservedCommit) {
		return out, nil
	}
	if !planner.QuorumLost(obs.Voters) {
		for _, m := range obs.Voters {
			out.LastObservedCommit = max(out.LastObservedCommit, int64(m.Commit))
		}
		return out, nil
	}
	out.QuorumLost = true
	for _, m := range obs.Voters {
		out.Members = append(out.Members, raftv1alpha1.RecoveryMemberStatus{
			Name: m.Name, Reachable: m.Reachable, VolumeLost: m.VolumeLost,
			Term: int64(m.Term), Commit: int64(m.Commit), Applied: int64(m.Applied), LastIndex: int64(m.LastIndex),
		})
	}
	if spec == nil {
		return out, nil
	}
	if prev != nil && prev.Apply != nil && prev.Apply.PlanID == spec.PlanID && prev.Plan != nil {
		// That plan is being (or was) applied: keep showing it rather than
		// one computed from the half-recovered cluster.
		out.Plan = prev.Plan
		return out, nil
	}
	obs.LastObservedCommit = uint64(max(out.LastObservedCommit, 0))
	plan, err := planner.MakePlan(obs)
	if err != nil {
		return out, err
	}
	out.Plan = &raftv1alpha1.RecoveryPlanStatus{ID: plan.ID, Survivor: plan.Survivor.Name, Discarded: plan.Discarded, AtRiskEntries: int64(plan.AtRiskEntries)}
	return out, nil
}

// formed tells whether the cluster ever committed an entry, as far as the
// operator saw. Before that its members are still starting (unreachable,
// their volumes not yet bound): there is no quorum to lose and nothing to
// recover, and reporting a loss would warn on every cluster's creation.
func formed(obs planner.Observed, lastObservedCommit int64) bool {
	if lastObservedCommit > 0 {
		return true
	}
	for _, m := range obs.Voters {
		if m.Commit > 0 {
			return true
		}
	}
	return false
}
