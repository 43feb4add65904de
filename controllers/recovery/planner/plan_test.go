package planner

import (
	"errors"
	"slices"
	"testing"
)

func voter(name string, reachable bool, applied, last uint64) Member {
	return Member{Name: name, ID: uint64(len(name)) + applied, Reachable: reachable, Term: 3, Commit: applied, Applied: applied, LastIndex: last}
}

func TestMakePlan(t *testing.T) {
	tests := []struct {
		name          string
		obs           Observed
		wantErr       error
		wantSurvivor  string
		wantDiscarded []string
		wantAtRisk    uint64
		wantUnapplied uint64
	}{
		{name: "quorum intact", obs: Observed{Voters: []Member{voter("a", true, 5, 5), voter("b", true, 5, 5), voter("c", false, 0, 0)}},
			wantErr: ErrQuorumIntact},
		{name: "nobody left", obs: Observed{Voters: []Member{voter("a", false, 0, 0), voter("b", false, 0, 0), voter("c", false, 0, 0)}},
			wantErr: ErrNoSurvivor},
		{name: "reachable but volume lost is no survivor",
			obs:     Observed{Voters: []Member{{Name: "a", Reachable: true, VolumeLost: true}, voter("b", false, 0, 0), voter("c", false, 0, 0)}},
			wantErr: ErrNoSurvivor},
		{name: "one survivor of three", obs: Observed{LastObservedCommit: 120,
			Voters: []Member{voter("a", false, 0, 0), voter("b", true, 100, 110), voter("c", false, 0, 0)}},
			wantSurvivor: "b", wantDiscarded: []string{"a", "c"}, wantAtRisk: 10, wantUnapplied: 10},
		{name: "highest applied wins", obs: Observed{LastObservedCommit: 90,
			Voters: []Member{voter("a", true, 80, 95), voter("b", true, 90, 90), voter("c", false, 0, 0), voter("d", false, 0, 0), voter("e", false, 0, 0)}},
			wantSurvivor: "b", wantDiscarded: []string{"a", "c", "d", "e"}},
		{name: "tie on applied: longer log", obs: Observed{
			Voters: []Member{voter("a", true, 90, 91), voter("b", true, 90, 95), voter("c", false, 0, 0), voter("d", false, 0, 0), voter("e", false, 0, 0)}},
			wantSurvivor: "b", wantDiscarded: []string{"a", "c", "d", "e"}, wantUnapplied: 5},
		{name: "full tie: lower name", obs: Observed{
			Voters: []Member{voter("b", true, 90, 90), voter("a", true, 90, 90), voter("c", false, 0, 0), voter("d", false, 0, 0), voter("e", false, 0, 0)}},
			wantSurvivor: "a", wantDiscarded: []string{"b", "c", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := MakePlan(tt.obs)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.Survivor.Name != tt.wantSurvivor || !slices.Equal(p.Discarded, tt.wantDiscarded) ||
				p.AtRiskEntries != tt.wantAtRisk || p.UnappliedOnSurvivor != tt.wantUnapplied {
				t.Fatalf("plan %+v", p)
			}
			if len(p.ID) != 12 {
				t.Fatalf("plan ID %q", p.ID)
			}
		})
	}
}

// TestPlanIDChangesWithWhatWasSeen: a plan approved for one observation
// must not apply to another.
func TestPlanIDChangesWithWhatWasSeen(t *testing.T) {
	base := Observed{Voters: []Member{voter("a", true, 100, 100), voter("b", false, 0, 0), voter("c", false, 0, 0)}}
	p1, err := MakePlan(base)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := MakePlan(base)
	if same.ID != p1.ID {
		t.Fatal("plan ID is not deterministic")
	}
	moved := Observed{Voters: []Member{voter("a", true, 101, 101), voter("b", false, 0, 0), voter("c", false, 0, 0)}}
	p2, _ := MakePlan(moved)
	if p2.ID == p1.ID {
		t.Fatal("the survivor's log moved on but the plan ID did not change")
	}
}

func TestQuorumLost(t *testing.T) {
	for _, tt := range []struct {
		name  string
		alive int
		total int
		want  bool
	}{
		{"3 of 3", 3, 3, false}, {"2 of 3", 2, 3, false}, {"1 of 3", 1, 3, true},
		{"3 of 5", 3, 5, false}, {"2 of 5", 2, 5, true}, {"0 of 1", 0, 1, true}, {"1 of 1", 1, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var vs []Member
			for i := range tt.total {
				vs = append(vs, Member{Name: string(rune('a' + i)), Reachable: i < tt.alive})
			}
			if got := QuorumLost(vs); got != tt.want {
				t.Fatalf("QuorumLost = %v, want %v", got, tt.want)
			}
		})
	}
}
