//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// putGet writes key=val through endpoint and reads it back.
func putGet(t *testing.T, endpoint, key, val string) {
	t.Helper()
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatalf("etcd client %s: %v", endpoint, err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s through %s: %v", key, endpoint, err)
	}
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s through %s: %v", key, endpoint, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != val {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, val)
	}
}

// localValue reads key from one member's own state (a serializable read
// served by that member without asking the leader), "" when absent.
func localValue(ctx context.Context, endpoint, key string) (string, error) {
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		return "", err
	}
	defer func() { _ = cli.Close() }()
	resp, err := cli.Get(ctx, key, clientv3.WithSerializable())
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// testCreate: a 3-member cluster becomes Available; the leader is the same
// in `kubectl get raftcluster`, in status, as a pod label and in the nodes'
// own view; clients put and get through the client Service.
func testCreate(t *testing.T) {
	s := env
	sc := s.newScenario(t, "create")
	begin := time.Now()
	rc := s.applyCluster(t, sc.ns, "demo", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	sc.figure("Available with 3 voters in %s", time.Since(begin).Round(100*time.Millisecond))

	leaderPod := podOf(snap, snap[0].Leader)
	if leaderPod == "" {
		t.Fatalf("the nodes' leader %x is none of the pods %v", snap[0].Leader, snap)
	}
	eventually(t, time.Minute, time.Second, "leader shown in status, kubectl get and the role label", func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		if obj.Status.Leader != leaderPod {
			return false, fmt.Sprintf("status.leader %q, nodes say %q", obj.Status.Leader, leaderPod)
		}
		labels, err := rc.roleLabels(ctx)
		if err != nil {
			return false, err.Error()
		}
		for pod, role := range labels {
			want := "follower"
			if pod == leaderPod {
				want = "leader"
			}
			if role != want {
				return false, fmt.Sprintf("pod %s has role label %q, want %q", pod, role, want)
			}
		}
		return true, ""
	})
	wide := rc.getWide(t)
	t.Logf("kubectl get raftcluster -o wide:\n%s", wide)
	if !strings.Contains(wide, "LEADER") || !strings.Contains(wide, leaderPod) {
		t.Errorf("kubectl get raftcluster does not show leader %s:\n%s", leaderPod, wide)
	}
	sc.figure("leader %s", leaderPod)

	endpoint := rc.clientEndpoint(t)
	putGet(t, endpoint, "create/hello", "world")
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list through the client Service: %v", err)
	}
	if len(members.Members) != 3 {
		t.Errorf("member list has %d members, want 3: %v", len(members.Members), members.Members)
	}
	sc.figure("put/get through client Service %s", endpoint)
}
