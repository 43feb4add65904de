package memberplan

import (
	"errors"
	"slices"
	"testing"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// view3 is a 3-voter cluster (1 leads) with learner 4, all healthy.
func view3() View {
	return View{
		Leader: 1, Voters: []uint64{1, 2, 3},
		Members: map[uint64]*statepb.Member{
			1: {Id: 1, Name: "a", PeerUrls: []string{"http://a:2380"}},
			2: {Id: 2, Name: "b", PeerUrls: []string{"http://b:2380"}},
			3: {Id: 3, Name: "c", PeerUrls: []string{"http://c:2380"}},
			4: {Id: 4, Name: "d", PeerUrls: []string{"http://d:2380"}, IsLearner: true},
		},
		Removed:     map[uint64]bool{9: true},
		Match:       map[uint64]uint64{1: 100, 2: 100, 3: 100, 4: 95},
		Healthy:     map[uint64]bool{1: true, 2: true, 3: true, 4: true},
		MaxLearners: 2,
		PeerScheme:  "http",
	}
}

func mc(typ nodepb.MemberChange_Type, id uint64) *nodepb.MemberChange {
	return &nodepb.MemberChange{Type: typ, Id: id}
}

func TestPlanChanges(t *testing.T) {
	add := func(name, url string, typ nodepb.MemberChange_Type) *nodepb.MemberChange {
		return &nodepb.MemberChange{Type: typ, Name: name, PeerUrls: []string{url}}
	}
	cases := []struct {
		name      string
		mutate    func(*View)
		reqs      []*nodepb.MemberChange
		err       error
		changes   int
		newVoters []uint64
	}{
		{name: "add learner", reqs: []*nodepb.MemberChange{add("e", "http://e:2380", nodepb.MemberChange_ADD_LEARNER)}, changes: 1, newVoters: []uint64{1, 2, 3}},
		{name: "add learner retried is a no-op", reqs: []*nodepb.MemberChange{add("d", "http://d:2380", nodepb.MemberChange_ADD_LEARNER)}},
		{name: "add with taken name", reqs: []*nodepb.MemberChange{add("d", "http://x:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrNameExists},
		{name: "add with taken URL", reqs: []*nodepb.MemberChange{add("x", "http://a:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrPeerURLExists},
		{name: "add with malformed URL", reqs: []*nodepb.MemberChange{add("x", "a:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrInvalidChange},
		{name: "add with an https URL the plaintext peers cannot dial", reqs: []*nodepb.MemberChange{add("x", "https://x:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrInvalidChange},
		{name: "add with an http URL the TLS peers cannot dial", mutate: func(v *View) { v.PeerScheme = "https" }, reqs: []*nodepb.MemberChange{add("x", "http://x:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrInvalidChange},
		{name: "add with https in a TLS cluster", mutate: func(v *View) { v.PeerScheme = "https" }, reqs: []*nodepb.MemberChange{add("x", "https://x:2380", nodepb.MemberChange_ADD_LEARNER)}, changes: 1, newVoters: []uint64{1, 2, 3}},
		{name: "add with a scheme no transport speaks", reqs: []*nodepb.MemberChange{add("x", "ftp://x:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrInvalidChange},
		{name: "add learner up to the cap", reqs: []*nodepb.MemberChange{add("e", "http://e:2380", nodepb.MemberChange_ADD_LEARNER)}, changes: 1, newVoters: []uint64{1, 2, 3}},
		{name: "add learners past the cap", reqs: []*nodepb.MemberChange{add("e", "http://e:2380", nodepb.MemberChange_ADD_LEARNER), add("f", "http://f:2380", nodepb.MemberChange_ADD_LEARNER)}, err: nodeerr.ErrTooManyLearners},
		{name: "demote past the cap", mutate: func(v *View) { v.MaxLearners = 1 }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_DEMOTE, 2)}, err: nodeerr.ErrTooManyLearners},
		{name: "over the cap, removing a learner is fine", mutate: func(v *View) { v.MaxLearners = 0 }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 4)}, changes: 1, newVoters: []uint64{1, 2, 3}},
		{name: "add with an id", reqs: []*nodepb.MemberChange{{Type: nodepb.MemberChange_ADD_LEARNER, Id: 5, PeerUrls: []string{"http://e:2380"}}}, err: nodeerr.ErrInvalidChange},
		{name: "promote caught-up learner", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 4)}, changes: 1, newVoters: []uint64{1, 2, 3, 4}},
		{name: "promote lagging learner", mutate: func(v *View) { v.Match[4] = 89 }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 4)}, err: nodeerr.ErrLearnerNotReady},
		{name: "promote a learner that refuses appends (restarted empty, stale Match)", mutate: func(v *View) { v.Rejecting = map[uint64]bool{4: true} }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 4)}, err: nodeerr.ErrLearnerNotReady},
		{name: "promote a voter is a no-op", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 2)}},
		{name: "promote unknown", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 7)}, err: nodeerr.ErrMemberNotFound},
		{name: "promote removed", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 9)}, err: nodeerr.ErrIDRemoved},
		{name: "remove follower", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 3)}, changes: 1, newVoters: []uint64{1, 2}},
		{name: "remove removed is a no-op", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 9)}},
		{name: "remove leader", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 1)}, err: nodeerr.ErrRemoveLeader},
		{name: "demote leader", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_DEMOTE, 1)}, err: nodeerr.ErrRemoveLeader},
		{name: "demote follower", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_DEMOTE, 2)}, changes: 1, newVoters: []uint64{1, 3}},
		{name: "same member twice", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 3), mc(nodepb.MemberChange_DEMOTE, 3)}, err: nodeerr.ErrInvalidChange},
		{name: "replace in one joint change", reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 4), mc(nodepb.MemberChange_REMOVE, 3)}, changes: 2, newVoters: []uint64{1, 2, 4}},
		// Strict reconfiguration: healthy voters of the new config must
		// form its quorum.
		{name: "remove healthy voter while another is down", mutate: func(v *View) { delete(v.Healthy, 3) }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 2)}, err: nodeerr.ErrNotEnoughStarted},
		{name: "remove the down voter", mutate: func(v *View) { delete(v.Healthy, 3) }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 3)}, changes: 1, newVoters: []uint64{1, 2}},
		{name: "add voter while one is down", mutate: func(v *View) { delete(v.Healthy, 3) }, reqs: []*nodepb.MemberChange{add("e", "http://e:2380", nodepb.MemberChange_ADD_VOTER)}, err: nodeerr.ErrNotEnoughStarted},
		{name: "add voter when all are up", reqs: []*nodepb.MemberChange{add("e", "http://e:2380", nodepb.MemberChange_ADD_VOTER)}, changes: 1, newVoters: []uint64{1, 2, 3, 100}},
		{name: "nothing left", mutate: func(v *View) { v.Leader = 0 }, reqs: []*nodepb.MemberChange{mc(nodepb.MemberChange_REMOVE, 1), mc(nodepb.MemberChange_REMOVE, 2), mc(nodepb.MemberChange_REMOVE, 3)}, err: nodeerr.ErrInvalidChange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := view3()
			if tc.mutate != nil {
				tc.mutate(&v)
			}
			p, err := Build(v, tc.reqs, func() uint64 { return 100 })
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if len(p.Changes) != tc.changes {
				t.Fatalf("%d raft changes, want %d: %v", len(p.Changes), tc.changes, p.Changes)
			}
			got := slices.Clone(p.NewVoters)
			slices.Sort(got)
			if tc.changes > 0 && !slices.Equal(got, tc.newVoters) {
				t.Fatalf("new voters %v, want %v", got, tc.newVoters)
			}
		})
	}
}

func TestPlanApplied(t *testing.T) {
	v := view3()
	p, err := Build(v, []*nodepb.MemberChange{mc(nodepb.MemberChange_PROMOTE, 4), mc(nodepb.MemberChange_REMOVE, 3)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Applied(v, p) {
		t.Fatal("plan reported applied before it was")
	}
	v.Voters = []uint64{1, 2, 4}
	v.Members[4].IsLearner = false
	delete(v.Members, 3)
	v.Removed[3] = true
	if !Applied(v, p) {
		t.Fatal("plan not reported applied after it was")
	}
}

// TestNotPromotable pins the one catch-up rule that both PROMOTE and
// Status's Progress.promotable apply.
func TestNotPromotable(t *testing.T) {
	tests := []struct {
		name               string
		match, leaderMatch uint64
		rejecting          bool
		promotable         bool
	}{
		{name: "exactly 90%", match: 90, leaderMatch: 100, promotable: true},
		{name: "just below 90%", match: 89, leaderMatch: 100},
		{name: "caught up", match: 100, leaderMatch: 100, promotable: true},
		{name: "empty log, empty leader", promotable: true},
		{name: "nothing replicated yet", match: 0, leaderMatch: 5},
		{name: "caught up but refusing appends", match: 100, leaderMatch: 100, rejecting: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := NotPromotable(tt.match, tt.leaderMatch, tt.rejecting)
			if (why == "") != tt.promotable {
				t.Errorf("notPromotable(%d, %d) = %q, want promotable=%v", tt.match, tt.leaderMatch, why, tt.promotable)
			}
		})
	}
}
