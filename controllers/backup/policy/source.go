package policy

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Member is a member's state as the controller observed it.
type Member struct {
	Name    string
	Leader  bool
	Learner bool
	// Healthy: it answered and follows the current leader.
	Healthy bool
	Applied uint64
}

// ErrNoHealthyMember: no member can serve a snapshot now (retry later).
var ErrNoHealthyMember = errors.New("no healthy voter to take the backup from")

// PickSource chooses the member a backup is taken from: a healthy voting
// follower (no load on the leader), the most caught up one, ties to the
// lower name; the leader only when no follower is healthy. Learners may
// lag arbitrarily and are never chosen. The snapshot itself is taken at a
// linearizable point (a ReadIndex round on the member), so a follower's
// backup holds every write acknowledged before it started.
func PickSource(members []Member) (string, error) {
	var followers []Member
	leader := ""
	for _, m := range members {
		switch {
		case !m.Healthy || m.Learner:
		case m.Leader:
			leader = m.Name
		default:
			followers = append(followers, m)
		}
	}
	if len(followers) > 0 {
		slices.SortFunc(followers, func(a, b Member) int {
			return cmp.Or(cmp.Compare(b.Applied, a.Applied), strings.Compare(a.Name, b.Name))
		})
		return followers[0].Name, nil
	}
	if leader != "" {
		return leader, nil
	}
	return "", ErrNoHealthyMember
}

// ObjectKey is where a backup's file is stored under a destination
// prefix: <prefix>/<namespace>/<cluster>/<backup>-<UTC start>.db. The
// namespace and cluster keep clusters apart in one bucket or volume; the
// start time in the name lets a listing sort them without metadata.
func ObjectKey(prefix, namespace, cluster, backup string, started time.Time) string {
	name := fmt.Sprintf("%s-%s.db", backup, started.UTC().Format("20060102T150405Z"))
	return strings.TrimPrefix(path.Join(prefix, namespace, cluster, name), "/")
}
