package nodetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestQuotaNoSpaceAlarm (issue 8 item 11): writes past the space quota are
// refused with etcd's ErrNoSpace and raise the NOSPACE alarm on every
// member; reads and deletes are still served; writes resume after etcd's
// procedure: delete, compact, defragment, disarm.
func TestQuotaNoSpaceAlarm(t *testing.T) {
	// An empty bbolt file is ~100 KiB; the quota leaves room for ~100 puts.
	const quota = 512 << 10
	c := NewCluster(t, Options{Members: 3, QuotaBackendBytes: quota})
	ctx := ctxFor(t, 60*time.Second)
	n := c.Member(0).Node()
	value := make([]byte, 4096)
	var full bool
	for i := 0; i < 4*quota/len(value) && !full; i++ {
		_, err := n.Put(ctx, &pb.PutRequest{Key: fmt.Appendf(nil, "k%03d", i), Value: value})
		switch {
		case errors.Is(err, nodeerr.ErrNoSpace):
			full = true
		case err != nil:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if !full {
		t.Fatalf("wrote %d bytes past a %d-byte quota without ErrNoSpace", 4*quota, quota)
	}
	for i, m := range c.Members() {
		node := m.Node()
		waitUntil(t, 30*time.Second, fmt.Sprintf("member %d lists the NOSPACE alarm", i), func() bool {
			// Each member that found itself over quota raised its own.
			resp, err := node.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET, Alarm: pb.AlarmType_NOSPACE})
			return err == nil && len(resp.Alarms) > 0
		})
		// Any member refuses a write, however small, while the alarm is up.
		if _, err := node.Put(ctx, &pb.PutRequest{Key: []byte("small"), Value: []byte("x")}); !errors.Is(err, nodeerr.ErrNoSpace) {
			t.Fatalf("member %d: small put under NOSPACE: %v, want ErrNoSpace", i, err)
		}
	}
	if _, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k000")}); err != nil {
		t.Fatalf("read under NOSPACE: %v", err)
	}
	del, err := n.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	if err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	// Deleting alone does not lift the alarm (as in etcd).
	if _, err := n.Put(ctx, &pb.PutRequest{Key: []byte("small"), Value: []byte("x")}); !errors.Is(err, nodeerr.ErrNoSpace) {
		t.Fatalf("put after delete, before disarm: %v, want ErrNoSpace", err)
	}
	if _, err := n.Compact(ctx, &pb.CompactionRequest{Revision: del.Header.Revision, Physical: true}); err != nil {
		t.Fatalf("compact: %v", err)
	}
	for i, m := range c.Members() {
		node := m.Node()
		// The compaction is applied everywhere before its physical part
		// can run; defragment once every member has it.
		waitUntil(t, 30*time.Second, fmt.Sprintf("member %d applied the compaction", i), func() bool {
			return node.CompactRevision() == del.Header.Revision
		})
		<-node.CompactionDone()
		if err := node.Defragment(ctx); err != nil {
			t.Fatalf("defragment member %d: %v", i, err)
		}
	}
	alarms, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alarms.Alarms {
		if _, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: a.MemberID, Alarm: a.Alarm}); err != nil {
			t.Fatalf("disarm %v: %v", a, err)
		}
	}
	if _, err := c.Member(2).Node().Put(ctx, &pb.PutRequest{Key: []byte("small"), Value: []byte("x")}); err != nil {
		t.Fatalf("put after delete and disarm: %v", err)
	}
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting until %s", timeout, what)
}
