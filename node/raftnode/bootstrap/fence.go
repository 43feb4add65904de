package bootstrap

import (
	"fmt"
	"slices"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/storage"
)

// FindSelf finds this member by name, or, for a member added through
// etcd's MemberAdd (which has no name), by advertised peer URL.
func FindSelf(members []*peerpb.Member, name string, advertisePeerURLs []string) *peerpb.Member {
	for _, m := range members {
		if m.Name == name {
			return m
		}
	}
	for _, m := range members {
		if m.Name == "" && len(m.PeerUrls) > 0 && slices.Equal(m.PeerUrls, advertisePeerURLs) {
			return m
		}
	}
	return nil
}

// CheckJoin decides whether self may join with an empty data dir, given
// the cluster's answer. *nodeerr.ErrFenced: never; another error: not now.
func CheckJoin(resp *peerpb.MembersResponse, self *peerpb.Member) error {
	if slices.Contains(resp.Started, self.Id) {
		// Joining with an empty log as a member that already
		// acknowledged entries could let a quorum "forget" committed
		// entries: a voter at once, a learner once promoted on the
		// leader's stale view of its log (issue 8 item 13). Learners
		// are fenced like voters.
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir is empty but the cluster records member %x as started with data; remove it and add a new member", self.Id)}
	}
	if !self.IsLearner && !resp.FromLeader {
		// Only the leader knows whether this voter acknowledged entries
		// before publishing; joining blind could let a quorum forget
		// entries. Transient: retry.
		return fmt.Errorf("raftnode: join: member %x is a voter and the leader did not answer; cannot tell whether it lost its data", self.Id)
	}
	return nil
}

// CheckDataDir fences a data dir written by another member or cluster.
func CheckDataDir(md storage.Metadata, name, token string) error {
	if md.Name != "" && md.Name != name {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to member %q, not %q", md.Name, name)}
	}
	if md.Token != "" && md.Token != token {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to the cluster with token %q, not %q", md.Token, token)}
	}
	return nil
}

// CheckInitialCluster fences a "new" member whose data dir belongs to
// another cluster than the initial cluster describes.
func CheckInitialCluster(initial []Peer, token string, id, clusterID uint64) error {
	if len(initial) == 0 {
		return nil
	}
	if _, ids, err := InitialMembers(initial, token); err == nil && slices.Contains(ids, id) {
		if want := ClusterID(token, ids); want != clusterID {
			return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to cluster %x, not %x", clusterID, want)}
		}
	}
	return nil
}

// CheckPeersAnswer fences a restarting member that the peers' cluster
// does not know or removed.
func CheckPeersAnswer(resp *peerpb.MembersResponse, id, clusterID uint64) error {
	if resp.ClusterId != clusterID {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to cluster %x but the peers are cluster %x", clusterID, resp.ClusterId)}
	}
	if slices.Contains(resp.Removed, id) {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("member %x was removed from the cluster", id)}
	}
	return nil
}
