package planner

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// world simulates the cluster an Apply acts on. DeleteVolume and
// ForceSurvivor are two non-atomic halves each (delete the volume, then
// the pod holding it; set the force flags on the template, then restart
// the survivor's pod), so a crash can fall between them.
type world struct {
	oldVolumes, oldPods map[string]bool
	started             bool
	forceSpecSet        bool
	survivorForced      bool
	survivorLeads       bool
	healthyVoters       int
	replicas            int
	quorumBack          bool
}

func newWorld() *world {
	return &world{
		oldVolumes: map[string]bool{"m1": false, "m2": true},
		oldPods:    map[string]bool{"m1": true, "m2": true},
		replicas:   3, healthyVoters: 0,
	}
}

func (w *world) observe(p Plan) ApplyObserved {
	return ApplyObserved{Survivor: p.Survivor.Name, Discarded: p.Discarded, OldVolumes: w.oldVolumes, OldPods: w.oldPods,
		Started: w.started, QuorumBack: w.quorumBack, SurvivorForced: w.survivorForced, SurvivorLeads: w.survivorLeads,
		HealthyVoters: w.healthyVoters, Replicas: w.replicas}
}

// do executes a step; half=true stops after the first half of a
// two-half step (the crash point between them). Every step is recorded
// before it acts, as the controller does.
func (w *world) do(s Step, half bool) {
	w.started = true
	switch s.Kind {
	case DeleteVolume:
		w.oldVolumes[s.Member] = false
		if !half {
			w.oldPods[s.Member] = false
		}
	case DeletePod:
		w.oldPods[s.Member] = false
	case ForceSurvivor:
		w.forceSpecSet = true
		if !half {
			w.survivorForced = true
		}
	case WaitSurvivor:
		w.survivorLeads, w.healthyVoters = true, 1
	case GrowBack:
		w.healthyVoters++
	}
}

func (w *world) String() string {
	return fmt.Sprintf("volumes=%v pods=%v forced=%v leads=%v voters=%d/%d",
		w.oldVolumes, w.oldPods, w.survivorForced, w.survivorLeads, w.healthyVoters, w.replicas)
}

func testPlan(t *testing.T) Plan {
	t.Helper()
	p, err := MakePlan(Observed{LastObservedCommit: 50, Voters: []Member{
		{Name: "m0", ID: 10, Reachable: true, Term: 4, Commit: 40, Applied: 40, LastIndex: 45},
		{Name: "m1", ID: 11, VolumeLost: true},
		{Name: "m2", ID: 12},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run applies the plan until Done (bounded), crashing once at loop
// crashAt: "before" the step's action, or "between": after its action
// (for DeleteVolume and ForceSurvivor, after their first half only).
func run(t *testing.T, p Plan, crashAt int, mode string) (string, *world) {
	t.Helper()
	w := newWorld()
	var trace strings.Builder
	for loop := 0; loop < 30; loop++ {
		s := Next(w.observe(p))
		switch {
		case loop == crashAt && mode == "before":
			fmt.Fprintf(&trace, "%2d %-20s CRASH before acting\n", loop, s)
			continue
		case loop == crashAt && mode == "between":
			w.do(s, true)
			fmt.Fprintf(&trace, "%2d %-20s CRASH after acting (DeleteVolume, ForceSurvivor: between halves)\n", loop, s)
			continue
		}
		fmt.Fprintf(&trace, "%2d %s\n", loop, s)
		if s.Kind == Done || s.Kind == Cancel {
			fmt.Fprintf(&trace, "final %s\n", w)
			return trace.String(), w
		}
		w.do(s, false)
	}
	t.Fatalf("no Done within 30 loops:\n%s", trace.String())
	return "", nil
}

// TestApplyCrashAtEveryStep: a crash before any step, or between the two
// halves of any step, converges to the same final state as a run without
// a crash. The traces are golden (testdata/apply-crash.golden).
func TestApplyCrashAtEveryStep(t *testing.T) {
	p := testPlan(t)
	clean, want := run(t, p, -1, "")
	steps := strings.Count(clean, "\n") - 1
	var all strings.Builder
	fmt.Fprintf(&all, "plan %s survivor=%s discarded=%v at-risk=%d\n== no crash\n%s", p.ID, p.Survivor.Name, p.Discarded, p.AtRiskEntries, clean)
	for at := 0; at < steps; at++ {
		for _, mode := range []string{"before", "between"} {
			tr, got := run(t, p, at, mode)
			if got.String() != want.String() {
				t.Errorf("crash %s step %d: final %s, want %s", mode, at, got, want)
			}
			fmt.Fprintf(&all, "== crash %s step %d\n%s", mode, at, tr)
		}
	}
	golden := filepath.Join("testdata", "apply-crash.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(all.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantTrace, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(wantTrace) != all.String() {
		t.Errorf("traces differ from %s (rerun with -update and review):\n%s", golden, all.String())
	}
}

func TestApplyCancelsWhenQuorumReturnsBeforeDamage(t *testing.T) {
	all := map[string]bool{"b": true, "c": true}
	o := ApplyObserved{Survivor: "a", Discarded: []string{"b", "c"}, OldVolumes: all, OldPods: all, QuorumBack: true, Replicas: 3}
	if s := Next(o); s.Kind != Cancel {
		t.Fatalf("Next = %v, want Cancel", s)
	}
	// Once a step was recorded (something may be deleted), the plan runs
	// to the end.
	o.Started = true
	if s := Next(o); s.Kind != DeleteVolume || s.Member != "b" {
		t.Fatalf("Next = %v after a recorded step, want DeleteVolume(b)", s)
	}
}

func TestApplyNext(t *testing.T) {
	none := map[string]bool{}
	base := func() ApplyObserved {
		return ApplyObserved{Survivor: "a", Discarded: []string{"b", "c"}, OldVolumes: none, OldPods: none, Started: true, Replicas: 3}
	}
	for _, tt := range []struct {
		name   string
		mutate func(*ApplyObserved)
		want   Step
	}{
		{"old volume first", func(o *ApplyObserved) {
			o.OldVolumes = map[string]bool{"c": true}
			o.OldPods = map[string]bool{"b": true}
		}, Step{DeletePod, "b"}},
		{"volume before its pod", func(o *ApplyObserved) {
			o.OldVolumes = map[string]bool{"b": true}
			o.OldPods = map[string]bool{"b": true}
		}, Step{DeleteVolume, "b"}},
		{"a pod left holding a deleted volume", func(o *ApplyObserved) { o.OldPods = map[string]bool{"c": true} }, Step{DeletePod, "c"}},
		{"force the survivor", func(o *ApplyObserved) {}, Step{ForceSurvivor, "a"}},
		{"wait for it to lead", func(o *ApplyObserved) { o.SurvivorForced = true }, Step{WaitSurvivor, "a"}},
		{"grow back", func(o *ApplyObserved) { o.SurvivorForced, o.SurvivorLeads, o.HealthyVoters = true, true, 1 }, Step{Kind: GrowBack}},
		{"done", func(o *ApplyObserved) { o.SurvivorForced, o.SurvivorLeads, o.HealthyVoters = true, true, 3 }, Step{Kind: Done}},
		{"quorum back after a recorded step: no cancel", func(o *ApplyObserved) { o.QuorumBack = true }, Step{ForceSurvivor, "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mutate(&o)
			if got := Next(o); got != tt.want {
				t.Fatalf("Next = %v, want %v", got, tt.want)
			}
		})
	}
}
