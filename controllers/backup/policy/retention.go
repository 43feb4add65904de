package policy

import (
	"cmp"
	"slices"
	"time"
)

// Backup is what retention needs to know of one backup.
type Backup struct {
	Name string
	// Started orders backups (newest first).
	Started time.Time
	// Finished: it reached a final phase (Completed or Failed); running
	// backups are never pruned.
	Finished bool
}

// Retention says which backups of a schedule to keep. Zero values mean
// "no limit".
type Retention struct {
	// KeepLast keeps the newest N finished backups.
	KeepLast int
	// MaxAge prunes finished backups started longer ago than this.
	MaxAge time.Duration
}

// Prune returns the names of the backups to delete, oldest first: the
// finished ones beyond the newest KeepLast, and the finished ones older
// than MaxAge. Running backups are kept and do not count.
func Prune(backups []Backup, r Retention, now time.Time) []string {
	var finished []Backup
	for _, b := range backups {
		if b.Finished {
			finished = append(finished, b)
		}
	}
	slices.SortFunc(finished, func(a, b Backup) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.Name, b.Name))
	})
	var out []string
	for i, b := range finished {
		tooMany := r.KeepLast > 0 && i >= r.KeepLast
		tooOld := r.MaxAge > 0 && now.Sub(b.Started) > r.MaxAge
		if tooMany || tooOld {
			out = append(out, b.Name)
		}
	}
	slices.Reverse(out)
	return out
}
