package policy

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseSchedule parses a standard five-field cron expression.
func ParseSchedule(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

// Due tells whether a run is due at now, given the last scheduled run (or
// the schedule's creation time when it never ran), and when the next run
// after now is (for RequeueAfter). Missed runs are not backfilled: one
// run covers any number of missed slots, as CloudNativePG does.
func Due(s cron.Schedule, last, now time.Time) (due bool, next time.Time) {
	first := s.Next(last)
	if !first.After(now) {
		return true, s.Next(now)
	}
	return false, first
}
