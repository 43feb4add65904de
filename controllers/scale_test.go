package controllers_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>.golden (rewritten with -update).
func golden(t *testing.T, name string, got []string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	text := strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != text {
		t.Errorf("%s differs from the golden file.\ngot:\n%s\nwant:\n%s", path, text, want)
	}
}

// newConverged returns an env whose cluster of n members has converged,
// with its trace cleared.
func newConverged(t *testing.T, n int32) *env {
	t.Helper()
	e := newEnv(t, n)
	e.converge(30)
	e.trace = nil
	e.world.VoterCounts, e.world.Calls = nil, nil
	return e
}

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to int32
		// forbidden voter counts: configurations a single-step change
		// would pass through.
		forbidden []int
		// changes is the number of membership changes expected.
		changes int
	}{
		{name: "1to3", from: 1, to: 3, forbidden: []int{2}, changes: 2},
		{name: "3to5", from: 3, to: 5, forbidden: []int{4}, changes: 2},
		{name: "5to3", from: 5, to: 3, forbidden: []int{4}, changes: 1},
		{name: "1to5", from: 1, to: 5, forbidden: []int{2, 3, 4}, changes: 2},
		{name: "3to1", from: 3, to: 1, forbidden: []int{2}, changes: 1},
		{name: "5to1", from: 5, to: 1, forbidden: []int{2, 3, 4}, changes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newConverged(t, tc.from)
			e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To(tc.to) })
			e.converge(40)
			for _, n := range e.world.VoterCounts {
				if slices.Contains(tc.forbidden, n) {
					t.Errorf("passed through a %d-voter configuration: %v", n, e.world.VoterCounts)
				}
			}
			if changes := len(e.world.VoterCounts); changes != tc.changes {
				t.Errorf("%d membership changes (%v), want %d", changes, e.world.Calls, tc.changes)
			}
			golden(t, "scale-"+tc.name, append(e.world.Calls, e.actions()...))
		})
	}
}

func TestScaleInMovesLeadershipOffVictims(t *testing.T) {
	e := newConverged(t, 5)
	if !e.world.SetLeader("kv-4") {
		t.Fatal("cannot make kv-4 the leader")
	}
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](3) })
	e.converge(40)
	if leader := e.world.Leader(); leader == "kv-3" || leader == "kv-4" || leader == "" {
		t.Errorf("leader after scale-in = %q", leader)
	}
	if len(e.world.Calls) < 2 || !strings.HasPrefix(e.world.Calls[0], "MoveLeader(kv-") {
		t.Errorf("calls = %v, want MoveLeader before the removal", e.world.Calls)
	}
	golden(t, "scale-5to3-leader-victim", append(e.world.Calls, e.actions()...))
}

func TestScaleInDeletesVolumesSoOrdinalsComeBackEmpty(t *testing.T) {
	e := newConverged(t, 3)
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](1) })
	e.converge(40)
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](3) })
	e.converge(40)
	// The re-added members joined as learners on empty volumes: had stale
	// data survived they would have been fenced and needed a wipe.
	for _, l := range e.actions() {
		if strings.Contains(l, "WipeVolume") {
			t.Errorf("stale volume reached a new member: %s", l)
		}
	}
}
