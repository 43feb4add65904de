package e2echeck

import (
	"fmt"
	"sort"
	"strings"
)

// Availability folds a stream of member pod observations (from a watch, so
// no transient state is missed the way polling could miss it) into the
// most members that were unavailable at the same time: the evidence that a
// PodDisruptionBudget held a quorum during a drain.
type Availability struct {
	up      map[string]bool
	maxDown int
	worst   string
}

// NewAvailability starts with every member up (scenarios start converged).
func NewAvailability(members []string) *Availability {
	a := &Availability{up: map[string]bool{}}
	for _, m := range members {
		a.up[m] = true
	}
	return a
}

// Observe records that pod is now available (Ready, not terminating, not
// deleted) or not. A pod seen for the first time joins the set.
func (a *Availability) Observe(pod string, available bool) {
	a.up[pod] = available
	var down []string
	for p, ok := range a.up {
		if !ok {
			down = append(down, p)
		}
	}
	if len(down) > a.maxDown {
		sort.Strings(down)
		a.maxDown, a.worst = len(down), strings.Join(down, ",")
	}
}

// MaxDown is the most members unavailable at once, and which they were.
func (a *Availability) MaxDown() (int, string) { return a.maxDown, a.worst }

// CheckMaxDown fails when more than allowed members were down at once.
func (a *Availability) CheckMaxDown(allowed int) error {
	if a.maxDown > allowed {
		return fmt.Errorf("%d members unavailable at once (%s), at most %d allowed", a.maxDown, a.worst, allowed)
	}
	return nil
}
