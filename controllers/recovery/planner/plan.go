package planner

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Member is one voter of the lost cluster as observed.
type Member struct {
	// Name is the member (pod) name.
	Name string
	// ID is its raft member ID.
	ID uint64
	// Reachable: it answered a status call in this observation.
	Reachable bool
	// VolumeLost: its data volume (PVC) is gone; it can never come back
	// with its data.
	VolumeLost bool
	// Term, Commit, Applied and LastIndex are its raft state as reported
	// (zero when unreachable).
	Term, Commit, Applied, LastIndex uint64
}

// Observed is the cluster as the operator sees it when quorum is lost.
type Observed struct {
	// Voters are the members of the last known voter configuration.
	Voters []Member
	// LastObservedCommit is the highest commit index the operator saw any
	// member report while the cluster was healthy (kept in status): the
	// basis of the at-risk estimate.
	LastObservedCommit uint64
}

// Plan is what Preview writes to status and Apply executes.
type Plan struct {
	// ID identifies this exact plan: a hash of the survivor, its log
	// position and the discarded members. Any change in what was observed
	// changes it, so Apply with a stale ID is refused.
	ID string
	// Survivor is the member that keeps its data and becomes the only
	// voter of a new cluster.
	Survivor Member
	// Discarded are the other voters: their pods and volumes are deleted
	// and fresh members replace them.
	Discarded []string
	// AtRiskEntries estimates the raft entries that may have been
	// acknowledged but are not on the survivor: LastObservedCommit minus
	// the survivor's last index (a lower bound: commits after the last
	// observation are unknowable; 0 when the survivor has them all).
	AtRiskEntries uint64
	// UnappliedOnSurvivor are entries in the survivor's log beyond its
	// applied index; the forced restart keeps and applies them.
	UnappliedOnSurvivor uint64
}

// Errors of MakePlan.
var (
	ErrQuorumIntact = errors.New("planner: a majority of voters is reachable; nothing to recover")
	ErrNoSurvivor   = errors.New("planner: no voter is reachable with its data; restore from a backup instead")
)

// QuorumLost tells whether fewer than a majority of voters are reachable
// with their data.
func QuorumLost(voters []Member) bool {
	alive := 0
	for _, m := range voters {
		if m.Reachable && !m.VolumeLost {
			alive++
		}
	}
	return alive < len(voters)/2+1
}

// MakePlan chooses the survivor — the reachable voter with its data and
// the highest applied index; ties go to the longer log, then the lower
// name, so the choice is deterministic — and estimates what is at risk.
func MakePlan(obs Observed) (Plan, error) {
	if !QuorumLost(obs.Voters) {
		return Plan{}, ErrQuorumIntact
	}
	var candidates []Member
	for _, m := range obs.Voters {
		if m.Reachable && !m.VolumeLost {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return Plan{}, ErrNoSurvivor
	}
	slices.SortFunc(candidates, func(a, b Member) int {
		return cmp.Or(cmp.Compare(b.Applied, a.Applied), cmp.Compare(b.LastIndex, a.LastIndex), strings.Compare(a.Name, b.Name))
	})
	p := Plan{Survivor: candidates[0]}
	for _, m := range obs.Voters {
		if m.Name != p.Survivor.Name {
			p.Discarded = append(p.Discarded, m.Name)
		}
	}
	slices.Sort(p.Discarded)
	if obs.LastObservedCommit > p.Survivor.LastIndex {
		p.AtRiskEntries = obs.LastObservedCommit - p.Survivor.LastIndex
	}
	if p.Survivor.LastIndex > p.Survivor.Applied {
		p.UnappliedOnSurvivor = p.Survivor.LastIndex - p.Survivor.Applied
	}
	p.ID = planID(p)
	return p, nil
}

// planID hashes what the user approves: who survives at which log
// position and who is discarded.
func planID(p Plan) string {
	s := fmt.Sprintf("%s/%x/%d/%d/%s", p.Survivor.Name, p.Survivor.ID, p.Survivor.Applied, p.Survivor.LastIndex, strings.Join(p.Discarded, ","))
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
