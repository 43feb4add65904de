package nodetest

import (
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/raftnode"
	"github.com/kuberaft/kuberaft/node/storage"
	"go.uber.org/zap"
)

// TestJoinedMemberCrashedBeforeDataRestarts: a member that joined (its
// WAL created, as join does at once) and crashed before any entry or
// snapshot reached its disk has no members in its state and no conf
// changes in its WAL. It must still learn its peers on restart and catch
// up; before, it knew none, its answers to the leader were dropped, and it
// was stuck for good (issue 8 item 9).
func TestJoinedMemberCrashedBeforeDataRestarts(t *testing.T) {
	c := NewCluster(t, Options{})
	joinedBeforeData(t, c, "n3")
	i := len(c.Members()) - 1
	if err := c.Start(i, raftnode.ClusterStateExisting); err != nil {
		t.Fatalf("restart the joined member: %v", err)
	}
	c.waitCaughtUp(i)
}

// TestJoinedMemberLearnsPeersLater: the same member, but no peer answers
// when it restarts (it is cut off); once the network heals it must still
// learn its peers and catch up, not wait for messages it cannot answer.
func TestJoinedMemberLearnsPeersLater(t *testing.T) {
	c := NewCluster(t, Options{})
	m := joinedBeforeData(t, c, "n3")
	var others []string
	for _, o := range c.Members()[:3] {
		others = append(others, o.URL)
	}
	c.Net.Partition(others, []string{m.URL})
	i := len(c.Members()) - 1
	if err := c.Start(i, raftnode.ClusterStateExisting); err != nil {
		t.Fatalf("restart the joined member while cut off: %v", err)
	}
	c.Net.Heal()
	c.waitCaughtUp(i)
}

// joinedBeforeData adds a learner named name and leaves on its disk exactly
// what join makes durable before anything else: the WAL's metadata, no
// entry, no snapshot (as if it crashed right after joining).
func joinedBeforeData(t *testing.T, c *Cluster, name string) *Member {
	t.Helper()
	m := c.newMember(name)
	resp, err := c.ChangeMembers(ctxFor(t, 5*time.Second), &nodepb.MemberChange{Type: nodepb.MemberChange_ADD_LEARNER, Name: m.Name, PeerUrls: []string{m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, mm := range resp.Members {
		if mm.Name == m.Name {
			id = mm.Id
		}
	}
	if id == 0 {
		t.Fatalf("added member not in %v", resp.Members)
	}
	lead := c.Member(c.Leader()).Node()
	s, err := storage.Create(zap.NewNop(), m.Dir, storage.Metadata{ClusterID: lead.ClusterID(), MemberID: id, Name: m.Name, Token: c.token})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}
