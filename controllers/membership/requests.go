package membership

import (
	"fmt"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// RequestKind is a one-off action a user asked for with an annotation.
type RequestKind string

// Request kinds.
const (
	RequestMoveLeader RequestKind = "MoveLeader"
	RequestRestart    RequestKind = "Restart"
)

// Request is one user request: move leadership to Target (empty: the best
// other voter) or restart member pod Target.
type Request struct {
	Kind   RequestKind
	Target string
}

// Verdict is what to do with a request this loop.
type Verdict string

// Verdicts of PlanRequest.
const (
	// VerdictAct: take the returned step; the request is done when it succeeds
	// (MoveLeader for a restart of the leader only prepares it: not done).
	VerdictAct Verdict = "Act"
	// VerdictWait: a safety check fails now; keep the request and retry.
	VerdictWait Verdict = "Wait"
	// VerdictDone: nothing to do, the request is already satisfied.
	VerdictDone Verdict = "Done"
	// VerdictRefuse: the request can never be carried out (no such member,
	// a learner as leader); drop it and say why.
	VerdictRefuse Verdict = "Refuse"
)

// PlanRequest decides how to carry out req. The caller asks only when Next
// has nothing to do (not paused, a leader known, not joint, no change in
// flight), so a request never interleaves with a membership change; here
// come the request's own checks: the target must be a healthy caught-up
// voter to lead, and a restart must leave a quorum of healthy voters.
func PlanRequest(o *Observed, req Request) (Step, Verdict) {
	switch req.Kind {
	case RequestMoveLeader:
		return planMoveLeader(o, req.Target)
	case RequestRestart:
		return planRestart(o, req.Target)
	}
	return refuse("unknown request %q", req.Kind)
}

func planMoveLeader(o *Observed, target string) (Step, Verdict) {
	var to Member
	if target == "" {
		t, ok := Transferee(o, nil)
		if !ok {
			return waitRequest("no other voter is healthy and caught up to take the leadership")
		}
		to = t
	} else {
		m, ok := o.member(func(m Member) bool { return m.Name == target })
		switch {
		case !ok:
			return refuse("%s is not a member", target)
		case m.Learner:
			return refuse("%s is a learner: only a voter can lead", target)
		case m.ID == o.LeaderID:
			return Step{Action: ActionNone, Message: target + " already leads"}, VerdictDone
		case !o.CaughtUp(m):
			// Raft would refuse a transfer to a lagging member (or stall
			// writes until it catches up); wait until it has.
			return waitRequest(fmt.Sprintf("%s is not healthy and caught up yet", target))
		}
		to = m
	}
	return Step{Action: ActionMoveLeader, Reason: raftv1alpha1.ReasonMovingLeader, Members: []Member{to},
		Message: fmt.Sprintf("Move leadership to %s as requested", to.Name)}, VerdictAct
}

func planRestart(o *Observed, target string) (Step, Verdict) {
	m, ok := o.member(func(m Member) bool { return m.Name == target })
	if !ok {
		return refuse("%s is not a member", target)
	}
	if m.ID == o.LeaderID {
		// Leader last, as in every rolling path: hand leadership over
		// first so that the restart costs no election.
		to, ok := Transferee(o, []Member{m})
		if !ok {
			return waitRequest(fmt.Sprintf("%s leads and no other voter is healthy and caught up to take over", target))
		}
		return Step{Action: ActionMoveLeader, Reason: raftv1alpha1.ReasonMovingLeader, Members: []Member{to},
			Message: fmt.Sprintf("Move leadership off %s to %s before restarting it", target, to.Name)}, VerdictAct
	}
	if !m.Learner {
		if msg := PreflightDown(o, m); msg != "" {
			return waitRequest(msg)
		}
	}
	return Step{Action: ActionDeletePod, Reason: raftv1alpha1.ReasonRestartingMember,
		Members: []Member{m}, Message: fmt.Sprintf("Restart %s as requested", target)}, VerdictAct
}

func waitRequest(msg string) (Step, Verdict) {
	return wait("", raftv1alpha1.ReasonWaitingPreflight, msg), VerdictWait
}

func refuse(format string, args ...any) (Step, Verdict) {
	return Step{Action: ActionNone, Message: fmt.Sprintf(format, args...)}, VerdictRefuse
}
