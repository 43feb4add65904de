package proctest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdClientCompatibility drives a 3-process cluster with etcd's own Go
// client: KV, Txn, Status, the member lifecycle (add learner → start it →
// promote → remove) and the typed errors clientv3 derives from our statuses.
func TestEtcdClientCompatibility(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t, 90*time.Second)

	t.Run("kv", func(t *testing.T) {
		put, err := cli.Put(ctx, "/app/a", "1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, "/app/b", "2"); err != nil {
			t.Fatal(err)
		}
		prev, err := cli.Put(ctx, "/app/a", "3", clientv3.WithPrevKV())
		if err != nil || prev.PrevKv == nil || string(prev.PrevKv.Value) != "1" {
			t.Fatalf("put with prev kv = %v, %v", prev, err)
		}
		if prev.Header.Revision <= put.Header.Revision {
			t.Errorf("revision did not grow: %d then %d", put.Header.Revision, prev.Header.Revision)
		}
		get, err := cli.Get(ctx, "/app/a")
		if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "3" || get.Kvs[0].Version != 2 {
			t.Fatalf("get = %v, %v", get, err)
		}
		if get.Kvs[0].CreateRevision != put.Header.Revision || get.Kvs[0].ModRevision != prev.Header.Revision {
			t.Errorf("create/mod revision = %d/%d, want %d/%d", get.Kvs[0].CreateRevision, get.Kvs[0].ModRevision, put.Header.Revision, prev.Header.Revision)
		}
		pfx, err := cli.Get(ctx, "/app/", clientv3.WithPrefix())
		if err != nil || pfx.Count != 2 || string(pfx.Kvs[0].Key) != "/app/a" || string(pfx.Kvs[1].Key) != "/app/b" {
			t.Fatalf("prefix get = %v, %v", pfx, err)
		}
		ser, err := cli.Get(ctx, "/app/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		if err != nil || ser.Count != 2 || len(ser.Kvs) != 0 {
			t.Fatalf("serializable count-only get = %v, %v", ser, err)
		}
		del, err := cli.Delete(ctx, "/app/b")
		if err != nil || del.Deleted != 1 {
			t.Fatalf("delete = %v, %v", del, err)
		}
		if get, err := cli.Get(ctx, "/app/b"); err != nil || len(get.Kvs) != 0 {
			t.Fatalf("get after delete = %v, %v", get, err)
		}
	})

	t.Run("txn", func(t *testing.T) {
		txn, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value("/app/a"), "=", "3"), clientv3.Compare(clientv3.Version("/app/a"), "=", 2)).
			Then(clientv3.OpPut("/app/c", "x"), clientv3.OpGet("/app/a")).
			Else(clientv3.OpPut("/app/c", "y")).Commit()
		if err != nil || !txn.Succeeded || string(txn.Responses[1].GetResponseRange().Kvs[0].Value) != "3" {
			t.Fatalf("txn = %v, %v", txn, err)
		}
		txn, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("/app/missing"), ">", 0)).
			Else(clientv3.OpPut("/app/c", "y")).Commit()
		if err != nil || txn.Succeeded {
			t.Fatalf("failing txn = %v, %v", txn, err)
		}
		if get, err := cli.Get(ctx, "/app/c"); err != nil || string(get.Kvs[0].Value) != "y" {
			t.Fatalf("get /app/c = %v, %v", get, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := cli.Put(ctx, "", "v"); !errors.Is(err, rpctypes.ErrEmptyKey) {
			t.Errorf("empty key: %v, want rpctypes.ErrEmptyKey", err)
		}
		if _, err := cli.Put(ctx, "big", strings.Repeat("x", 1600*1024)); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
			t.Errorf("oversize put: %v, want rpctypes.ErrRequestTooLarge", err)
		}
		if _, err := cli.MemberRemove(ctx, 0xdead); !errors.Is(err, rpctypes.ErrMemberNotFound) {
			t.Errorf("remove unknown member: %v, want rpctypes.ErrMemberNotFound", err)
		}
		_, err := cli.Txn(ctx).Then(clientv3.OpPut("dup", "1"), clientv3.OpPut("dup", "2")).Commit()
		if !errors.Is(err, rpctypes.ErrDuplicateKey) {
			t.Errorf("txn putting a key twice: %v, want rpctypes.ErrDuplicateKey", err)
		}
		if get, err := cli.Get(ctx, "dup"); err != nil || len(get.Kvs) != 0 {
			t.Errorf("rejected txn was written: %v, %v", get, err)
		}
		if get, err := cli.Get(ctx, "big"); err != nil || len(get.Kvs) != 0 {
			t.Errorf("rejected put was written: %v, %v", get, err)
		}
	})

	t.Run("status", func(t *testing.T) {
		var leaders int
		for _, m := range c.members {
			st, err := cli.Status(ctx, m.endpoint())
			if err != nil {
				t.Fatal(err)
			}
			if st.Leader == 0 || st.RaftTerm == 0 || st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.Version == "" || st.IsLearner {
				t.Errorf("%s status = %+v", m.name, st)
			}
			if st.Leader == st.Header.MemberId {
				leaders++
			}
		}
		if leaders != 1 {
			t.Errorf("%d members say they lead, want 1", leaders)
		}
		alarms, err := cli.AlarmList(ctx)
		if err != nil || len(alarms.Alarms) != 0 {
			t.Errorf("alarm list = %v, %v", alarms, err)
		}
	})

	t.Run("move leader", func(t *testing.T) {
		leader := c.waitLeader(10 * time.Second)
		var target *member
		for _, m := range c.members {
			if m != leader {
				target = m
				break
			}
		}
		st, err := cli.Status(ctx, target.endpoint())
		if err != nil {
			t.Fatal(err)
		}
		// Like etcd, MoveLeader is served by the leader.
		if _, err := c.client(leader.endpoint()).MoveLeader(ctx, st.Header.MemberId); err != nil {
			t.Fatalf("move leader to %s: %v", target.name, err)
		}
		after, err := cli.Status(ctx, target.endpoint())
		if err != nil {
			t.Fatal(err)
		}
		if after.Leader != st.Header.MemberId {
			t.Fatalf("after MoveLeader, %s reports leader %x, want itself", target.name, after.Leader)
		}
	})

	t.Run("members", func(t *testing.T) { testMemberLifecycle(t, c, cli) })
}

// testMemberLifecycle adds a learner, starts it with state existing,
// promotes it once caught up, then removes it.
func testMemberLifecycle(t *testing.T, c *cluster, cli *clientv3.Client) {
	ctx := ctxT(t, 60*time.Second)
	list, err := cli.MemberList(ctx)
	if err != nil || len(list.Members) != 3 {
		t.Fatalf("member list = %v, %v", list, err)
	}
	for _, m := range list.Members {
		if m.IsLearner || len(m.PeerURLs) != 1 || m.Name == "" {
			t.Errorf("member = %+v", m)
		}
		// etcd publishes every member's --advertise-client-urls through
		// raft; etcdctl member list and clientv3's endpoint sync read them.
		if len(m.ClientURLs) != 1 {
			t.Errorf("member %s lists client URLs %v, want its --advertise-client-urls", m.Name, m.ClientURLs)
		}
	}
	nm := c.newMember("m3")
	add, err := cli.MemberAddAsLearner(ctx, []string{nm.peerURL()})
	if err != nil || !add.Member.IsLearner || add.Member.ID == 0 {
		t.Fatalf("member add learner = %v, %v", add, err)
	}
	c.start(nm, "existing", c.initialCluster(nm))
	c.members = append(c.members, nm)
	// A learner is live but not ready: it must not take client traffic.
	pollReadyz(t, nm, "[-]non_learner failed", 20*time.Second)
	// Promotion succeeds once the learner caught up (≥ 90 % of the leader's
	// match index); until then etcd's "not in sync" error says retry.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = cli.MemberPromote(ctx, add.Member.ID)
		if err == nil || !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("promote: %v", err)
	}
	list, err = cli.MemberList(ctx)
	if err != nil || len(list.Members) != 4 || slices.ContainsFunc(list.Members, func(m *etcdMember) bool { return m.IsLearner }) {
		t.Fatalf("member list after promote = %v, %v", list, err)
	}
	// The new member serves reads of the data written before it joined.
	if get, err := c.client(nm.endpoint()).Get(ctx, "/app/a"); err != nil || string(get.Kvs[0].Value) != "3" {
		t.Fatalf("get from the new member = %v, %v", get, err)
	}
	if _, err := cli.MemberRemove(ctx, add.Member.ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
	list, err = cli.MemberList(ctx)
	if err != nil || len(list.Members) != 3 {
		t.Fatalf("member list after remove = %v, %v", list, err)
	}
}
