package nodetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func change(typ nodepb.MemberChange_Type, id uint64) *nodepb.MemberChange {
	return &nodepb.MemberChange{Type: typ, Id: id}
}

// waitCaughtUp waits until member i applied what the leader applied.
func (c *Cluster) waitCaughtUp(i int) {
	c.t.Helper()
	target := c.Member(c.Leader()).Node().AppliedIndex()
	c.Eventually(10*time.Second, c.Member(i).Name+" to catch up", func() bool {
		n := c.Member(i).Node()
		return n != nil && n.AppliedIndex() >= target
	})
}

// promote promotes member i, retrying while the learner is not ready.
func (c *Cluster) promote(t *testing.T, ids ...uint64) *nodepb.ChangeMembersResponse {
	t.Helper()
	var changes []*nodepb.MemberChange
	for _, id := range ids {
		changes = append(changes, change(nodepb.MemberChange_PROMOTE, id))
	}
	var resp *nodepb.ChangeMembersResponse
	c.Eventually(10*time.Second, "promotion", func() bool {
		r, err := c.ChangeMembers(ctxFor(t, 5*time.Second), changes...)
		if err != nil && !errors.Is(err, nodeerr.ErrLearnerNotReady) {
			t.Fatalf("promote %x: %v", ids, err)
		}
		resp = r
		return err == nil
	})
	return resp
}

func voters(cs *raftpb.ConfState) []uint64 {
	v := slices.Clone(cs.GetVoters())
	slices.Sort(v)
	return v
}

// checkNoVoterCount fails if any member applied a non-joint configuration
// with exactly bad voters, and reports whether a joint one was applied.
func checkNoVoterCount(t *testing.T, c *Cluster, bad int) (sawJoint bool) {
	t.Helper()
	for _, m := range c.Members() {
		for _, cs := range m.ConfStates() {
			if len(cs.GetVotersOutgoing()) > 0 {
				sawJoint = true
				continue
			}
			if len(cs.GetVoters()) == bad {
				t.Fatalf("%s applied a %d-voter configuration %v", m.Name, bad, cs)
			}
		}
	}
	return sawJoint
}

func TestAddLearnerThenPromote(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	// Added but not started: promotion must wait until it has caught up.
	m := c.newMember("n3")
	resp, err := c.ChangeMembers(ctxFor(t, 5*time.Second), &nodepb.MemberChange{Type: nodepb.MemberChange_ADD_LEARNER, Name: "n3", PeerUrls: []string{m.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, mm := range resp.Members {
		if mm.Name == "n3" {
			id = mm.Id
			if !mm.IsLearner {
				t.Fatal("added member is not a learner")
			}
		}
	}
	if len(resp.ConfState.Learners) != 1 || resp.ConfState.Learners[0] != id {
		t.Fatalf("conf state %v, want learner %x", resp.ConfState, id)
	}
	if _, err := c.ChangeMembers(ctxFor(t, 5*time.Second), change(nodepb.MemberChange_PROMOTE, id)); !errors.Is(err, nodeerr.ErrLearnerNotReady) {
		t.Fatalf("promoting a learner that never started: %v, want ErrLearnerNotReady", err)
	}
	if err := c.Start(3, raftnode.ClusterStateExisting); err != nil {
		t.Fatal(err)
	}
	c.waitCaughtUp(3)
	if !c.Member(3).Node().IsLearner() {
		t.Fatal("joined member does not know it is a learner")
	}
	resp = c.promote(t, id)
	if v := resp.ConfState.Voters; len(v) != 4 || !slices.Contains(v, id) {
		t.Fatalf("voters %v, want 4 including %x", v, id)
	}
	// A retried promotion is a no-op that succeeds.
	if _, err := c.ChangeMembers(ctxFor(t, 5*time.Second), change(nodepb.MemberChange_PROMOTE, id)); err != nil {
		t.Fatalf("retried promotion: %v", err)
	}
	// The new voter serves linearizable reads of earlier writes.
	hist := kvmodel.NewHistory()
	cl := c.NewClient(0, hist)
	if !cl.Put(time.Now().Add(5*time.Second), "k", "v") {
		t.Fatal("put failed")
	}
	r, err := c.Member(3).Node().Range(ctxFor(t, 5*time.Second), &pb.RangeRequest{Key: []byte("k")})
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read on the promoted member: %v, %v", r, err)
	}
}

func TestJointAddTwo(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	var ids []uint64
	for _, name := range []string{"n3", "n4"} {
		i, err := c.AddMember(ctxFor(t, 10*time.Second), name)
		if err != nil {
			t.Fatal(err)
		}
		c.waitCaughtUp(i)
		ids = append(ids, c.Member(i).ID)
	}
	resp := c.promote(t, ids...)
	if len(resp.ConfState.Voters) != 5 || len(resp.ConfState.VotersOutgoing) != 0 {
		t.Fatalf("final conf state %v, want 5 voters, not joint", resp.ConfState)
	}
	if !checkNoVoterCount(t, c, 4) {
		t.Fatal("no joint configuration was applied")
	}
	st, err := c.Member(c.Leader()).Node().Status(context.Background())
	if err != nil || st.Joint {
		t.Fatalf("status after change: joint=%v err=%v", st.GetJoint(), err)
	}
}

func TestJointRemoveTwo(t *testing.T) {
	c := NewCluster(t, Options{Members: 5})
	lead := c.Leader()
	var victims []int
	var ids []uint64
	for i := range 5 {
		if i != lead && len(victims) < 2 {
			victims = append(victims, i)
			ids = append(ids, c.Member(i).ID)
		}
	}
	resp, err := c.ChangeMembers(ctxFor(t, 10*time.Second), change(nodepb.MemberChange_REMOVE, ids[0]), change(nodepb.MemberChange_REMOVE, ids[1]))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ConfState.Voters) != 3 || len(resp.Members) != 3 {
		t.Fatalf("after removal: %v, %d members", resp.ConfState, len(resp.Members))
	}
	if !checkNoVoterCount(t, c, 4) {
		t.Fatal("no joint configuration was applied")
	}
	// Removed members stop, fenced: their IDs are never reused.
	for _, i := range victims {
		n := c.Member(i).Node()
		select {
		case <-n.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("removed member %s still runs", c.Member(i).Name)
		}
		var fenced *nodeerr.ErrFenced
		if !errors.As(n.Err(), &fenced) {
			t.Fatalf("removed member stopped with %v, want ErrFenced", n.Err())
		}
		c.Crash(i)
	}
	hist := kvmodel.NewHistory()
	if !c.NewClient(0, hist).Put(time.Now().Add(5*time.Second), "k", "v") {
		t.Fatal("put after removal failed")
	}
	// A removed member restarted on its data is refused.
	var fenced *nodeerr.ErrFenced
	if err := c.Start(victims[0], raftnode.ClusterStateExisting); !errors.As(err, &fenced) {
		t.Fatalf("restart of a removed member: %v, want ErrFenced", err)
	}
}

// TestJointRemoveTwoOfThree: 3 → 1 voters in one joint change. Leaving the
// joint configuration needs a majority of the old one, so one of the two
// members being removed must still acknowledge it: they are refused and
// stopped only once they left the configuration entirely.
func TestJointRemoveTwoOfThree(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	lead := c.Leader()
	var ids []uint64
	for i := range 3 {
		if i != lead {
			ids = append(ids, c.Member(i).ID)
		}
	}
	resp, err := c.ChangeMembers(ctxFor(t, 10*time.Second), change(nodepb.MemberChange_REMOVE, ids[0]), change(nodepb.MemberChange_REMOVE, ids[1]))
	if err != nil {
		t.Fatalf("joint removal of two of three: %v\n%s", err, c.describe())
	}
	if len(resp.ConfState.Voters) != 1 || len(resp.ConfState.VotersOutgoing) != 0 {
		t.Fatalf("final conf state %v, want one voter, not joint", resp.ConfState)
	}
	if !checkNoVoterCount(t, c, 2) {
		t.Fatal("no joint configuration was applied")
	}
	if !c.NewClient(0, kvmodel.NewHistory()).Put(time.Now().Add(5*time.Second), "k", "v") {
		t.Fatal("the remaining voter does not accept writes")
	}
}

func TestRemoveLeaderAfterTransfer(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	lead := c.Leader()
	leadID := c.Member(lead).ID
	if _, err := c.Member(lead).Node().ChangeMembers(ctxFor(t, 5*time.Second), &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{change(nodepb.MemberChange_REMOVE, leadID)}}); !errors.Is(err, nodeerr.ErrRemoveLeader) {
		t.Fatalf("removing the leader: %v, want ErrRemoveLeader", err)
	}
	target := c.Member((lead + 1) % 3).ID
	if err := c.Member(lead).Node().MoveLeader(ctxFor(t, 5*time.Second), target); err != nil {
		t.Fatal(err)
	}
	if got := c.Member(c.Leader()).ID; got != target {
		t.Fatalf("leader %x after transfer, want %x", got, target)
	}
	if _, err := c.ChangeMembers(ctxFor(t, 10*time.Second), change(nodepb.MemberChange_REMOVE, leadID)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Member(lead).Node().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed former leader still runs")
	}
	c.Crash(lead)
	hist := kvmodel.NewHistory()
	cl := c.NewClient(0, hist)
	for i := range 10 {
		if !cl.Put(time.Now().Add(5*time.Second), "k", string(rune('a'+i))) {
			t.Fatal("put after removing the old leader failed")
		}
	}
	hist.CheckLinearizable(t, 5*time.Second)
}

func TestReplaceMemberThatLostData(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	victim := (c.Leader() + 1) % 3
	oldID := c.Member(victim).ID
	// Its disk is gone: restarting it as the same voter would let a quorum
	// forget acknowledged entries, so it is fenced.
	var fenced *nodeerr.ErrFenced
	if err := c.Restart(victim, true); !errors.As(err, &fenced) {
		t.Fatalf("restart with an empty data dir: %v, want ErrFenced", err)
	}
	// Replace it: remove the old ID, add the same name as a new learner
	// (new ID), start it, promote it.
	if _, err := c.ChangeMembers(ctxFor(t, 10*time.Second), change(nodepb.MemberChange_REMOVE, oldID)); err != nil {
		t.Fatal(err)
	}
	m := c.Member(victim)
	if _, err := c.ChangeMembers(ctxFor(t, 10*time.Second), &nodepb.MemberChange{Type: nodepb.MemberChange_ADD_LEARNER, Name: m.Name, PeerUrls: []string{m.URL}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(victim, raftnode.ClusterStateExisting); err != nil {
		t.Fatal(err)
	}
	if c.Member(victim).ID == oldID {
		t.Fatal("the replacement reused the removed ID")
	}
	c.waitCaughtUp(victim)
	resp := c.promote(t, c.Member(victim).ID)
	if len(resp.ConfState.Voters) != 3 || slices.Contains(resp.ConfState.Voters, oldID) {
		t.Fatalf("voters %v", resp.ConfState.Voters)
	}
	// Adding the removed ID back is impossible: it is in the removed set.
	if _, err := c.ChangeMembers(ctxFor(t, 5*time.Second), change(nodepb.MemberChange_PROMOTE, oldID)); !errors.Is(err, nodeerr.ErrIDRemoved) {
		t.Fatalf("promoting a removed ID: %v, want ErrIDRemoved", err)
	}
}

func TestEtcdMemberAPI(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	follower := c.Member((c.Leader() + 1) % 3).Node()
	ctx := ctxFor(t, 20*time.Second)
	// Served by a follower: forwarded to the leader.
	m := c.newMember("n3")
	add, err := follower.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{m.URL}, IsLearner: true})
	if err != nil {
		t.Fatal(err)
	}
	if add.Member == nil || !add.Member.IsLearner || len(add.Members) != 4 {
		t.Fatalf("member add: %v", add)
	}
	// etcd's MemberAdd gives no name: the new member finds itself by URL.
	if err := c.Start(3, raftnode.ClusterStateExisting); err != nil {
		t.Fatal(err)
	}
	c.waitCaughtUp(3)
	c.Eventually(10*time.Second, "promotion through MemberPromote", func() bool {
		_, err := follower.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: add.Member.ID})
		return err == nil
	})
	c.Eventually(5*time.Second, "the new member to publish its name", func() bool {
		list, err := follower.MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
		if err != nil {
			return false
		}
		for _, mm := range list.Members {
			if mm.ID == add.Member.ID {
				return mm.Name == "n3" && !mm.IsLearner && len(mm.ClientURLs) == 1
			}
		}
		return false
	})
	if _, err := follower.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: add.Member.ID}); err != nil {
		t.Fatal(err)
	}
	st, err := follower.EtcdStatus(ctx)
	if err != nil || st.Leader == 0 || st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.DbSize == 0 {
		t.Fatalf("status %v, %v", st, err)
	}
}

// TestGracefulStopHandsOverLeadership: a leader that stops transfers
// leadership first, so a successor leads the moment Stop returns instead of
// after an election timeout.
func TestGracefulStopHandsOverLeadership(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	lead := c.Leader()
	oldID := c.Member(lead).ID
	c.Stop(lead)
	for i, m := range c.Members() {
		if n := m.Node(); i != lead && n != nil && n.Leader() == n.ID() && n.ID() != oldID {
			return
		}
	}
	t.Fatalf("no successor leads right after the leader stopped\n%s", c.describe())
}
