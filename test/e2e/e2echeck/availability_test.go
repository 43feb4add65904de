package e2echeck

import "testing"

func TestAvailability(t *testing.T) {
	type obs struct {
		pod string
		up  bool
	}
	for _, tc := range []struct {
		name    string
		events  []obs
		maxDown int
		worst   string
	}{
		{name: "no events", maxDown: 0},
		{name: "one evicted, back", maxDown: 1, worst: "a-0",
			events: []obs{{"a-0", false}, {"a-0", false}, {"a-0", true}}},
		{name: "one after the other", maxDown: 1, worst: "a-0",
			events: []obs{{"a-0", false}, {"a-0", true}, {"a-1", false}, {"a-1", true}}},
		{name: "two overlap", maxDown: 2, worst: "a-0,a-2",
			events: []obs{{"a-2", false}, {"a-0", false}, {"a-2", true}}},
		{name: "a new pod counts", maxDown: 1, worst: "a-3",
			events: []obs{{"a-3", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAvailability([]string{"a-0", "a-1", "a-2"})
			for _, e := range tc.events {
				a.Observe(e.pod, e.up)
			}
			if n, worst := a.MaxDown(); n != tc.maxDown || worst != tc.worst {
				t.Errorf("MaxDown = %d %q, want %d %q", n, worst, tc.maxDown, tc.worst)
			}
			if err := a.CheckMaxDown(1); (err != nil) != (tc.maxDown > 1) {
				t.Errorf("CheckMaxDown(1) = %v with %d down", err, tc.maxDown)
			}
		})
	}
}
