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

// world simulates the cluster an Apply acts on. ForceSurvivor is two
// non-atomic halves (set the force flag on the survivor's pod spec, then
// restart the pod), so a crash can fall between them.
type world struct {
	pods, volumes      map[string]bool
	forceSpecSet       bool
	survivorForced     bool
	survivorLeadsAlone bool
	healthyVoters      int
	replicas           int
	quorumBack         bool
}

func newWorld() *world {
	return &world{
		pods:     map[string]bool{"m0": true, "m1": false, "m2": true},
		volumes:  map[string]bool{"m0": true, "m1": false, "m2": true},
		replicas: 3, healthyVoters: 0,
	}
}

func (w *world) observe(p Plan) ApplyObserved {
	return ApplyObserved{Plan: p, Pods: w.pods, Volumes: w.volumes, QuorumBack: w.quorumBack,
		SurvivorForced: w.survivorForced, SurvivorLeadsAlone: w.survivorLeadsAlone,
		HealthyVoters: w.healthyVoters, Replicas: w.replicas}
}

// do executes a step; half=true stops after the first half of a
// two-half step (the crash point between them).
func (w *world) do(s Step, half bool) {
	switch s.Kind {
	case DeletePod:
		w.pods[s.Member] = false
	case DeleteVolume:
		w.volumes[s.Member] = false
	case ForceSurvivor:
		w.forceSpecSet = true
		if !half {
			w.survivorForced = true
		}
	case WaitSurvivor:
		w.survivorLeadsAlone, w.healthyVoters = true, 1
	case GrowBack:
		w.healthyVoters++
	}
}

func (w *world) String() string {
	return fmt.Sprintf("pods=%v volumes=%v forced=%v leads=%v voters=%d/%d",
		w.pods, w.volumes, w.survivorForced, w.survivorLeadsAlone, w.healthyVoters, w.replicas)
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
// (for ForceSurvivor, after its first half only).
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
			fmt.Fprintf(&trace, "%2d %-20s CRASH after acting (ForceSurvivor: between halves)\n", loop, s)
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
	p, err := MakePlan(Observed{Voters: []Member{{Name: "a", Reachable: true, Applied: 5, LastIndex: 5}, {Name: "b"}, {Name: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{"a": true, "b": true, "c": true}
	o := ApplyObserved{Plan: p, Pods: all, Volumes: all, QuorumBack: true, Replicas: 3}
	if s := Next(o); s.Kind != Cancel {
		t.Fatalf("Next = %v, want Cancel", s)
	}
	// Once a discarded member's pod is gone, the plan runs to the end.
	o.Pods = map[string]bool{"a": true, "b": false, "c": true}
	if s := Next(o); s.Kind == Cancel {
		t.Fatal("cancelled after a destructive step")
	}
}
