package e2echeck

import (
	"sort"
	"time"
)

// LongestGap returns the longest interval inside [from, to] during which no
// write was acknowledged, and when that interval began. acks need not be
// sorted. With no ack in the window the whole window is the gap.
func LongestGap(acks []time.Time, from, to time.Time) (time.Duration, time.Time) {
	in := make([]time.Time, 0, len(acks))
	for _, a := range acks {
		if !a.Before(from) && !a.After(to) {
			in = append(in, a)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Before(in[j]) })
	prev, best, bestAt := from, time.Duration(0), from
	for _, a := range append(in, to) {
		if g := a.Sub(prev); g > best {
			best, bestAt = g, prev
		}
		prev = a
	}
	return best, bestAt
}

// LostWrites returns, sorted, the keys whose acknowledged value is not what
// the final read returned. acked maps each key to the value of its last
// acknowledged put; keys with a later put of unknown outcome must be left
// out by the caller (either value would be correct).
func LostWrites(acked, final map[string]string) []string {
	var lost []string
	for k, v := range acked {
		if got, ok := final[k]; !ok || got != v {
			lost = append(lost, k)
		}
	}
	sort.Strings(lost)
	return lost
}
