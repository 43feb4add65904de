package e2echeck

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sample is one node's raft view at one instant, as its Status RPC reported.
type Sample struct {
	At             time.Time
	Pod            string
	ID             uint64
	Role           string
	Leader         uint64
	Term           uint64
	Applied        uint64   // the node's applied index
	Voters         []uint64 // the incoming configuration
	VotersOutgoing []uint64 // non-empty while joint
	Learners       []uint64
}

// Config renders the voting configuration with hex IDs: "{1,2,3}", or
// "{1,2,3,4,5}&{1,2,3}" while joint (incoming & outgoing).
func (s Sample) Config() string { return s.configNamed(nil) }

// configNamed renders the configuration with IDs replaced by names where
// names has one (hex IDs otherwise), members sorted.
func (s Sample) configNamed(names map[uint64]string) string {
	c := setString(s.Voters, names)
	if len(s.VotersOutgoing) > 0 {
		c += "&" + setString(s.VotersOutgoing, names)
	}
	return c
}

func setString(ids []uint64, names map[uint64]string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		if n, ok := names[id]; ok {
			parts[i] = n
		} else {
			parts[i] = fmt.Sprintf("%x", id)
		}
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// LeaderConfigs returns the voting configurations that leaders reported,
// in time order, each change once: the membership history as the
// authoritative member saw it. IDs are shown as the names of the pods that
// reported them as their own. samples must be in time order.
func LeaderConfigs(samples []Sample) []string {
	names := map[uint64]string{}
	for _, s := range samples {
		names[s.ID] = s.Pod
	}
	var out []string
	for _, s := range samples {
		if s.ID == 0 || s.ID != s.Leader {
			continue
		}
		if c := s.configNamed(names); len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}

// AfterBootstrap drops the samples a node took while it was still applying
// the bootstrap entries: a new cluster's log starts with one single-member
// ConfChange per initial member (indexes 1..initialMembers, as etcd's
// raft.StartNode writes them), so a node that restarts and replays its log
// from the beginning briefly reports 1, 2, … voters. That is history being
// replayed, not a membership change under test.
func AfterBootstrap(samples []Sample, initialMembers int) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.Applied >= uint64(initialMembers) {
			out = append(out, s)
		}
	}
	return out
}

// ForbiddenVoterCounts returns the samples in which either half of the
// voting configuration has a size outside allowed: with allowed = {3, 5}
// a 3→5→3 scale that ever passed through 4 voters is caught, whether the
// node saw it as a plain or as one half of a joint configuration. A sample
// with no voters at all is a new member that has not yet received any
// configuration from the leader; it proves nothing and is skipped.
func ForbiddenVoterCounts(samples []Sample, allowed ...int) []Sample {
	var bad []Sample
	for _, s := range samples {
		if len(s.Voters) == 0 && len(s.VotersOutgoing) == 0 {
			continue
		}
		ok := slices.Contains(allowed, len(s.Voters))
		if len(s.VotersOutgoing) > 0 && !slices.Contains(allowed, len(s.VotersOutgoing)) {
			ok = false
		}
		if !ok {
			bad = append(bad, s)
		}
	}
	return bad
}

// LeaderAt returns the leader in the highest term reported by the samples
// (ties: the most recent sample wins), 0 when none names one.
func LeaderAt(samples []Sample) uint64 {
	var leader, term uint64
	var at time.Time
	for _, s := range samples {
		if s.Leader == 0 {
			continue
		}
		if s.Term > term || (s.Term == term && s.At.After(at)) {
			leader, term, at = s.Leader, s.Term, s.At
		}
	}
	return leader
}

// Restart is one member taken down by a rolling upgrade: the raft ID of the
// pod that was deleted and the leader the cluster reported at that moment.
type Restart struct {
	Pod              string
	ID               uint64
	LeaderAtDeletion uint64
}

// CheckLeaderLast verifies a rolling upgrade's order: every member restarted
// exactly once, none while it led (leadership was transferred first), and
// the member that led when the upgrade began went last.
func CheckLeaderLast(initialLeader uint64, members int, restarts []Restart) error {
	if len(restarts) != members {
		return fmt.Errorf("%d pod restarts for %d members: %v", len(restarts), members, restarts)
	}
	seen := map[uint64]bool{}
	for i, r := range restarts {
		if seen[r.ID] {
			return fmt.Errorf("member %x (%s) restarted twice", r.ID, r.Pod)
		}
		seen[r.ID] = true
		if r.LeaderAtDeletion == r.ID {
			return fmt.Errorf("restart %d: %s (%x) was deleted while it was the leader", i+1, r.Pod, r.ID)
		}
	}
	if last := restarts[len(restarts)-1]; last.ID != initialLeader {
		return fmt.Errorf("last restart was %s (%x), not the initial leader %x", last.Pod, last.ID, initialLeader)
	}
	return nil
}
