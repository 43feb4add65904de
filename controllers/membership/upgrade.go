package membership

import (
	"fmt"
	"slices"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// upgrade restarts members whose pod runs an outdated template, one at a
// time: followers from the highest ordinal down, each ready and caught up
// before the next; the leader last, after leadership moved to an upgraded
// follower, so the cluster sees at most one election.
func upgrade(o *Observed, _ Spec) (Step, bool) {
	var outdated []Member
	for _, m := range o.Members {
		p, ok := o.Pods[m.Ordinal]
		if !ok || p.Terminating {
			return wait(currentOp(o, ""), raftv1alpha1.ReasonWaitingPods, "pod "+m.Name+" is not running"), true
		}
		if !p.UpToDate {
			outdated = append(outdated, m)
		}
	}
	if len(outdated) == 0 {
		return Step{}, false
	}
	for _, m := range o.Members {
		if !containsID(outdated, m.ID) && (!o.Pods[m.Ordinal].Ready || !o.CaughtUp(m)) {
			return wait(raftv1alpha1.OperationUpgrade, raftv1alpha1.ReasonWaitingUpgrade,
				fmt.Sprintf("upgraded member %s is not ready and caught up yet", m.Name)), true
		}
	}
	followers := slices.DeleteFunc(slices.Clone(outdated), func(m Member) bool { return m.ID == o.LeaderID })
	if len(followers) == 0 {
		return upgradeLeader(o, outdated)
	}
	victim := slices.MaxFunc(followers, func(a, b Member) int { return a.Ordinal - b.Ordinal })
	if msg := PreflightDown(o, victim); msg != "" {
		return wait(raftv1alpha1.OperationUpgrade, raftv1alpha1.ReasonWaitingPreflight, msg), true
	}
	return Step{Action: ActionDeletePod, Operation: raftv1alpha1.OperationUpgrade, Reason: raftv1alpha1.ReasonUpgrading,
		Message: "restarting follower " + victim.Name + " on the new template", Members: []Member{victim}}, true
}

// upgradeLeader handles the last outdated member, the leader: leadership
// moves first to an upgraded follower, and the next loop restarts the
// former leader as a follower.
func upgradeLeader(o *Observed, outdated []Member) (Step, bool) {
	leader, _ := o.Leader()
	if len(o.Voters()) == 1 {
		// No one to hand leadership to: a single member restarts in place.
		if msg := PreflightDown(o, leader); msg != "" {
			return wait(raftv1alpha1.OperationUpgrade, raftv1alpha1.ReasonWaitingPreflight, msg), true
		}
		return Step{Action: ActionDeletePod, Operation: raftv1alpha1.OperationUpgrade, Reason: raftv1alpha1.ReasonUpgrading,
			Message: "restarting the single member " + leader.Name + " on the new template", Members: []Member{leader}}, true
	}
	target, ok := Transferee(o, outdated)
	if !ok {
		return wait(raftv1alpha1.OperationUpgrade, raftv1alpha1.ReasonWaitingPreflight,
			"no upgraded, caught-up follower can take leadership from "+leader.Name), true
	}
	return Step{Action: ActionMoveLeader, Operation: raftv1alpha1.OperationUpgrade, Reason: raftv1alpha1.ReasonMovingLeader,
		Message: "moving leadership from " + leader.Name + " to upgraded " + target.Name, Members: []Member{target}}, true
}
