package membership

import (
	"fmt"
	"slices"
	"strings"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Action is what a step does.
type Action string

// Actions, in the order the planner considers the changes they belong to.
const (
	// ActionNone means the cluster matches the spec.
	ActionNone Action = "None"
	// ActionWait means something must happen first; Reason says what.
	ActionWait Action = "Wait"
	// ActionRemove removes Members in one (joint) change.
	ActionRemove Action = "Remove"
	// ActionMoveLeader transfers leadership to Members[0].
	ActionMoveLeader Action = "MoveLeader"
	// ActionWipeVolume deletes the PVC and pod of Names (fenced learners).
	ActionWipeVolume Action = "WipeVolume"
	// ActionAddLearners adds Names as learners in one change.
	ActionAddLearners Action = "AddLearners"
	// ActionPromote promotes Members in one (joint) change.
	ActionPromote Action = "Promote"
	// ActionDeletePod deletes pod Names[0] so it restarts on the new template.
	ActionDeletePod Action = "DeletePod"
)

// Step is the planner's decision for this loop.
type Step struct {
	Action Action
	// Operation is the change this step belongs to; empty when none is.
	Operation raftv1alpha1.OperationType
	// Reason is the Progressing reason; Message explains it to users.
	Reason  string
	Message string
	// Members are the members the step acts on (Remove, Promote) or the
	// transferee (MoveLeader).
	Members []Member
	// Names are the pod names the step acts on (AddLearners, DeletePod,
	// WipeVolume).
	Names []string
}

// Targets returns the member or pod names the step is about.
func (s Step) Targets() []string {
	out := slices.Clone(s.Names)
	for _, m := range s.Members {
		out = append(out, m.Name)
	}
	return out
}

// Acts reports whether the step changes anything.
func (s Step) Acts() bool { return s.Action != ActionNone && s.Action != ActionWait }

func (s Step) String() string {
	if len(s.Targets()) == 0 {
		return fmt.Sprintf("%s(%s)", s.Action, s.Reason)
	}
	return fmt.Sprintf("%s[%s](%s)", s.Action, strings.Join(s.Targets(), ","), s.Reason)
}

// planner is one kind of change; it returns ok=false when it has nothing to do.
type planner func(o *Observed, spec Spec) (Step, bool)

// Next returns the one step to take now. Before any change it checks the
// preconditions every change shares: not paused, bootstrapped, a leader is
// known, and no joint transition is in flight. The planners then run in a
// fixed order so a half-done change left by a crashed loop is finished
// before a new one starts: replacing fenced voters, scaling in, wiping
// fenced learners, adding learners, promoting them, upgrading.
func Next(o *Observed, spec Spec) Step {
	switch {
	case spec.Paused:
		return wait("", raftv1alpha1.ReasonPaused, "spec.paused is true: no change is made")
	case !o.Bootstrapped:
		return wait("", raftv1alpha1.ReasonBootstrap, "waiting for the bootstrap members to form the cluster")
	case o.LeaderID == 0:
		return wait(currentOp(o, ""), raftv1alpha1.ReasonWaitingQuorum, "no leader is known")
	case o.Joint:
		// The node leaves a joint configuration by itself once it is
		// committed; acting now would stack a change on an unfinished one.
		return wait(currentOp(o, ""), raftv1alpha1.ReasonWaitingJoint, "the configuration is joint")
	}
	for _, plan := range []planner{replaceFenced, scaleIn, wipeFencedLearners, scaleOut, promote, upgrade} {
		if st, ok := plan(o, spec); ok {
			return st
		}
	}
	return Step{Action: ActionNone, Reason: raftv1alpha1.ReasonReconciled, Message: "the cluster matches the spec"}
}

func wait(op raftv1alpha1.OperationType, reason, msg string) Step {
	return Step{Action: ActionWait, Operation: op, Reason: reason, Message: msg}
}

// currentOp keeps the recorded operation's type while it is being finished,
// so that e.g. the learner added by a replacement is reported as Replace.
func currentOp(o *Observed, def raftv1alpha1.OperationType) raftv1alpha1.OperationType {
	if o.Operation != nil && (def == "" || (def == raftv1alpha1.OperationScaleOut && o.Operation.Type == raftv1alpha1.OperationReplace)) {
		return o.Operation.Type
	}
	return def
}

// replaceFenced removes voters whose node refuses to start: their data is
// gone or foreign, so they can never vote again. scaleOut then adds the
// ordinal back as a new learner with a new raft ID.
func replaceFenced(o *Observed, _ Spec) (Step, bool) {
	var fenced []Member
	for _, m := range o.Voters() {
		if p, ok := o.Pods[m.Ordinal]; ok && p.Fenced && !m.Healthy {
			fenced = append(fenced, m)
		}
	}
	if len(fenced) == 0 {
		return Step{}, false
	}
	if msg := PreflightRemove(o, fenced); msg != "" {
		return wait(raftv1alpha1.OperationReplace, raftv1alpha1.ReasonWaitingPreflight, msg), true
	}
	return Step{Action: ActionRemove, Operation: raftv1alpha1.OperationReplace, Reason: raftv1alpha1.ReasonReplacingMember,
		Message: "removing fenced members " + names(fenced), Members: fenced}, true
}

// scaleIn removes every member beyond spec.replicas in one (joint) change,
// after moving leadership off them: the node refuses to remove the leader,
// and a leader leaving would stall writes for an election. Leaving the
// joint configuration needs a majority of the old voters as well, which
// may include the victims: they keep running (raftnode stops a member only
// once it left the configuration entirely) until the StatefulSet shrinks,
// after the change.
func scaleIn(o *Observed, spec Spec) (Step, bool) {
	victims := o.filter(func(m Member) bool { return m.Ordinal >= spec.Replicas || m.Ordinal < 0 })
	if len(victims) == 0 {
		return Step{}, false
	}
	leader, _ := o.Leader()
	if containsID(victims, leader.ID) {
		target, ok := Transferee(o, victims)
		if !ok {
			return wait(raftv1alpha1.OperationScaleIn, raftv1alpha1.ReasonWaitingPreflight,
				"no healthy, caught-up voter outside "+names(victims)+" can take leadership"), true
		}
		return Step{Action: ActionMoveLeader, Operation: raftv1alpha1.OperationScaleIn, Reason: raftv1alpha1.ReasonMovingLeader,
			Message: "moving leadership from " + leader.Name + " to " + target.Name, Members: []Member{target}}, true
	}
	if msg := PreflightRemove(o, victims); msg != "" {
		return wait(raftv1alpha1.OperationScaleIn, raftv1alpha1.ReasonWaitingPreflight, msg), true
	}
	return Step{Action: ActionRemove, Operation: raftv1alpha1.OperationScaleIn, Reason: raftv1alpha1.ReasonRemovingMembers,
		Message: "removing " + names(victims) + " in one change", Members: victims}, true
}

// wipeFencedLearners deletes the volume of a learner whose node refuses to
// start: it found data of an earlier incarnation of its ordinal. A learner
// holds no vote, so this never risks quorum; the pod restarts empty and
// joins with the learner's new ID.
func wipeFencedLearners(o *Observed, _ Spec) (Step, bool) {
	var wipe []string
	for _, m := range o.Learners() {
		if p, ok := o.Pods[m.Ordinal]; ok && p.Fenced && !m.Healthy {
			wipe = append(wipe, m.Name)
		}
	}
	if len(wipe) == 0 {
		return Step{}, false
	}
	return Step{Action: ActionWipeVolume, Operation: currentOp(o, raftv1alpha1.OperationReplace), Reason: raftv1alpha1.ReasonWipingVolume,
		Message: "deleting the stale volume of fenced learners " + strings.Join(wipe, ","), Names: wipe}, true
}

// scaleOut adds every missing ordinal below spec.replicas as a learner, in
// one change, before its pod exists. Learners do not vote, so this cannot
// affect quorum; they are promoted together once caught up.
func scaleOut(o *Observed, spec Spec) (Step, bool) {
	var missing []string
	for n := range spec.Replicas {
		if _, ok := o.ByOrdinal(n); ok {
			continue
		}
		// A volume left by an earlier member of this ordinal would make the
		// new node start on stale data; the cleanup phase deletes it first.
		if n >= o.StatefulSetReplicas && o.Volumes[n] {
			return wait(currentOp(o, raftv1alpha1.OperationScaleOut), raftv1alpha1.ReasonWaitingPods,
				fmt.Sprintf("waiting for the stale volume of %s to be deleted", MemberName(spec.Name, n))), true
		}
		missing = append(missing, MemberName(spec.Name, n))
	}
	if len(missing) == 0 {
		return Step{}, false
	}
	if msg := preflightQuorum(o.Voters(), "adding learners"); msg != "" {
		return wait(currentOp(o, raftv1alpha1.OperationScaleOut), raftv1alpha1.ReasonWaitingPreflight, msg), true
	}
	return Step{Action: ActionAddLearners, Operation: currentOp(o, raftv1alpha1.OperationScaleOut), Reason: raftv1alpha1.ReasonAddingLearners,
		Message: "adding learners " + strings.Join(missing, ","), Names: missing}, true
}

// promote makes all learners voters in one joint change once every one of
// them has caught up: promoting together means 3→5 goes straight from a
// 3-voter to a 5-voter configuration, never through 4.
func promote(o *Observed, _ Spec) (Step, bool) {
	learners := o.Learners()
	if len(learners) == 0 {
		return Step{}, false
	}
	op := currentOp(o, raftv1alpha1.OperationScaleOut)
	for _, l := range learners {
		if !o.CaughtUp(l) {
			return wait(op, raftv1alpha1.ReasonWaitingLearners,
				fmt.Sprintf("learner %s has not caught up (match %d of commit %d)", l.Name, l.Match, o.Commit)), true
		}
	}
	if msg := PreflightPromote(o, learners); msg != "" {
		return wait(op, raftv1alpha1.ReasonWaitingPreflight, msg), true
	}
	return Step{Action: ActionPromote, Operation: op, Reason: raftv1alpha1.ReasonPromoting,
		Message: "promoting " + names(learners) + " in one change", Members: learners}, true
}

func names(ms []Member) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return strings.Join(out, ",")
}

func containsID(ms []Member, id uint64) bool {
	return slices.ContainsFunc(ms, func(m Member) bool { return m.ID == id })
}
