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

// maxSlotsScanned bounds the walk over missed slots (a per-minute
// schedule that missed a week); past it the run is named after now's
// minute (cron's granularity, so a retry within the minute finds it).
const maxSlotsScanned = 10000

// Due tells whether a run is due at now, given the last scheduled slot (or
// the schedule's creation time when it never ran); slot is the latest
// missed slot (the run's deterministic identity, so a retried create after
// a crash finds the same name), and next is the first slot after now (for
// RequeueAfter). Missed runs are not backfilled: one run covers any number
// of missed slots, as CloudNativePG does.
func Due(s cron.Schedule, last, now time.Time) (due bool, slot, next time.Time) {
	t := s.Next(last)
	if t.After(now) {
		return false, time.Time{}, t
	}
	for i := 0; !t.After(now); i++ {
		if i == maxSlotsScanned {
			return true, now.Truncate(time.Minute), s.Next(now)
		}
		slot, t = t, s.Next(t)
	}
	return true, slot, t
}
