package membership

import (
	"testing"
)

// requestObserved is a converged 3-voter cluster led by kv-0, plus a
// learner kv-3; healthy lists the healthy ordinals, match the caught-up ones.
func requestObserved(healthy, caughtUp []int) *Observed {
	o := &Observed{Bootstrapped: true, LeaderID: 1, Commit: 100, Pods: map[int]Pod{}}
	for i := range 4 {
		m := Member{ID: uint64(i + 1), Name: "kv-" + string(rune('0'+i)), Ordinal: i, Learner: i == 3}
		for _, h := range healthy {
			m.Healthy = m.Healthy || h == i
		}
		for _, c := range caughtUp {
			if c == i {
				// The node reports the catch-up verdict (Promotable).
				m.Match, m.Promotable = 100, true
			}
		}
		o.Members = append(o.Members, m)
	}
	return o
}

func TestPlanRequest(t *testing.T) {
	all, none := []int{0, 1, 2, 3}, []int{}
	for _, tc := range []struct {
		name              string
		req               Request
		healthy, caughtUp []int
		wantVerdict       Verdict
		wantAction        Action
		wantTarget        string
	}{
		{"move to a named voter", Request{RequestMoveLeader, "kv-2"}, all, all, VerdictAct, ActionMoveLeader, "kv-2"},
		{"move to the best voter", Request{RequestMoveLeader, ""}, all, []int{0, 2}, VerdictAct, ActionMoveLeader, "kv-2"},
		{"move to the leader is done", Request{RequestMoveLeader, "kv-0"}, all, all, VerdictDone, ActionNone, ""},
		{"move to a lagging voter waits", Request{RequestMoveLeader, "kv-1"}, all, []int{0, 2}, VerdictWait, ActionWait, ""},
		{"move with no caught-up voter waits", Request{RequestMoveLeader, ""}, all, []int{0}, VerdictWait, ActionWait, ""},
		{"move to a learner is refused", Request{RequestMoveLeader, "kv-3"}, all, all, VerdictRefuse, ActionNone, ""},
		{"move to a stranger is refused", Request{RequestMoveLeader, "kv-9"}, all, all, VerdictRefuse, ActionNone, ""},
		{"restart a follower", Request{RequestRestart, "kv-1"}, all, all, VerdictAct, ActionDeletePod, "kv-1"},
		{"restart the leader moves leadership first", Request{RequestRestart, "kv-0"}, all, all, VerdictAct, ActionMoveLeader, "kv-1"},
		{"restart that would lose quorum waits", Request{RequestRestart, "kv-1"}, []int{0, 1}, all, VerdictWait, ActionWait, ""},
		{"restart the leader with no transferee waits", Request{RequestRestart, "kv-0"}, []int{0}, all, VerdictWait, ActionWait, ""},
		{"restart a learner", Request{RequestRestart, "kv-3"}, []int{0, 1, 3}, all, VerdictAct, ActionDeletePod, "kv-3"},
		{"restart a stranger is refused", Request{RequestRestart, "kv-7"}, all, none, VerdictRefuse, ActionNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, verdict := PlanRequest(requestObserved(tc.healthy, tc.caughtUp), tc.req)
			if verdict != tc.wantVerdict || step.Action != tc.wantAction {
				t.Fatalf("got %s %s (%s), want %s %s", verdict, step.Action, step.Message, tc.wantVerdict, tc.wantAction)
			}
			if tc.wantTarget != "" && (len(step.Members) != 1 || step.Members[0].Name != tc.wantTarget) {
				t.Errorf("step %s acts on %v, want %s", step, step.Targets(), tc.wantTarget)
			}
			if step.Message == "" {
				t.Error("a request's outcome must say why")
			}
		})
	}
}
