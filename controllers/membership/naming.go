package membership

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MemberName is the name of member n of cluster: its StatefulSet pod name.
func MemberName(cluster string, n int) string { return fmt.Sprintf("%s-%d", cluster, n) }

// Ordinal returns n for a name <cluster>-<n>, or -1.
func Ordinal(cluster, name string) int {
	rest, ok := strings.CutPrefix(name, cluster+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return -1
	}
	return n
}

// StatefulSetReplicas is the size the StatefulSet must have: the recorded
// (bootstrap) size until the cluster formed, then one past the highest
// member ordinal, so pods exist exactly for members (learners included).
// It is derived from the membership, not from the spec, which is what makes
// a crash between a membership change and the StatefulSet resize heal by
// itself. Without a leader the membership is unknown: the current size is
// kept, or the recorded one if the StatefulSet is gone. While the
// configuration is joint the size never shrinks: the outgoing voters are
// members until the joint configuration is left, and leaving it needs a
// majority of them running.
func StatefulSetReplicas(o *Observed, recorded int) int {
	current := o.StatefulSetReplicas
	if current == 0 {
		current = recorded
	}
	if !o.Bootstrapped {
		return recorded
	}
	if o.LeaderID == 0 || len(o.Members) == 0 {
		return current
	}
	highest := -1
	for _, m := range o.Members {
		highest = max(highest, m.Ordinal)
	}
	if o.Joint {
		return max(highest+1, current)
	}
	return highest + 1
}

// OrphanVolumes returns the ordinals whose PVC belongs to no member and no
// pod the StatefulSet will keep: left by a scale-in or a removed member.
// They must go before the ordinal is reused, or a new member would start on
// stale data. Nothing is orphaned while the membership is unknown or
// joint: an outgoing voter's volume holds the log the old majority needs to
// leave the joint configuration, even when the node no longer lists it.
func OrphanVolumes(o *Observed, stsReplicas int) []int {
	if !o.Bootstrapped || o.LeaderID == 0 || o.Joint {
		return nil
	}
	var out []int
	for n := range o.Volumes {
		if _, member := o.ByOrdinal(n); !member && n >= stsReplicas {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
