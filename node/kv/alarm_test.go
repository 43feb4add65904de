package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func alarmCmd(t *testing.T, action pb.AlarmRequest_AlarmAction) *statepb.Command {
	t.Helper()
	b, err := proto.Marshal(&pb.AlarmRequest{Action: action, MemberID: 3, Alarm: pb.AlarmType_NOSPACE})
	if err != nil {
		t.Fatal(err)
	}
	return &statepb.Command{Op: &statepb.Command_Alarm{Alarm: b}}
}

func marshalCmd(t *testing.T, m proto.Message, wrap func([]byte) *statepb.Command) *statepb.Command {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return wrap(b)
}

// Issue 8 item 11: under a NOSPACE alarm writes that add data are refused
// with etcd's error, reads and deletes are served, and writes resume after
// the alarm is disarmed; the alarm is part of the replicated state.
func TestNoSpaceAlarm(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "a", "1")
	mustPut(t, s, "b", "2")
	if r := s.Apply(alarmCmd(t, pb.AlarmRequest_ACTIVATE)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := s.Alarms(); len(got) != 1 || got[0].MemberID != 3 || got[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("alarms = %v, want member 3 NOSPACE", got)
	}
	put := func(k string) *statepb.Command {
		return marshalCmd(t, &pb.PutRequest{Key: []byte(k), Value: []byte("v")}, func(b []byte) *statepb.Command {
			return &statepb.Command{Op: &statepb.Command_Put{Put: b}}
		})
	}
	txnPut := marshalCmd(t, &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t")}}}}}, func(b []byte) *statepb.Command {
		return &statepb.Command{Op: &statepb.Command_Txn{Txn: b}}
	})
	del := marshalCmd(t, &pb.DeleteRangeRequest{Key: []byte("a")}, func(b []byte) *statepb.Command {
		return &statepb.Command{Op: &statepb.Command_DeleteRange{DeleteRange: b}}
	})
	refused := []struct {
		name string
		cmd  *statepb.Command
	}{
		{"put", put("c")},
		{"txn with a put", txnPut},
		{"append", appendCmd("", 0, "a", "x")},
		{"increment", &statepb.Command{Op: &statepb.Command_Increment{Increment: &statepb.IncrementOp{Key: []byte("n"), Delta: 1}}}},
	}
	rev := s.Revision()
	for _, tc := range refused {
		if r := s.Apply(tc.cmd); !errors.Is(r.Err, nodeerr.ErrNoSpace) {
			t.Fatalf("%s under NOSPACE: %v, want ErrNoSpace", tc.name, r.Err)
		}
	}
	if s.Revision() != rev {
		t.Fatal("a refused write moved the revision")
	}
	if _, err := s.Range(&pb.RangeRequest{Key: []byte("b")}); err != nil {
		t.Fatalf("read under NOSPACE: %v", err)
	}
	if r := s.Apply(del); r.Err != nil || r.Resp.(*pb.DeleteRangeResponse).Deleted != 1 {
		t.Fatalf("delete under NOSPACE = %v, %v", r.Resp, r.Err)
	}
	// The alarm survives a snapshot (a member restored from it refuses too).
	restored := restoredCopy(t, s)
	if r := restored.Apply(put("c")); !errors.Is(r.Err, nodeerr.ErrNoSpace) {
		t.Fatalf("restored member took a put under NOSPACE: %v", r.Err)
	}
	for _, st := range []*Store{s, restored} {
		if r := st.Apply(alarmCmd(t, pb.AlarmRequest_DEACTIVATE)); r.Err != nil || len(r.Resp.(*pb.AlarmResponse).Alarms) != 1 {
			t.Fatalf("disarm = %v, %v", r.Resp, r.Err)
		}
		if r := st.Apply(put("c")); r.Err != nil {
			t.Fatalf("put after disarm: %v", r.Err)
		}
	}
}

// The quota counts the bbolt file, as etcd does: deletes, a compaction and
// a defragmentation give space back.
func TestSizeShrinksAfterDeleteCompactDefrag(t *testing.T) {
	s := newStore(t)
	empty := s.Size()
	value := make([]byte, 4096)
	for i := range 200 {
		if _, err := s.Put(&pb.PutRequest{Key: []byte{byte(i)}, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	s.commitForTest()
	full := s.Size()
	if full < empty+200*4096 {
		t.Fatalf("size %d after 800 KiB of puts, empty %d", full, empty)
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(&pb.CompactionRequest{Revision: s.Revision(), Physical: true}); err != nil {
		t.Fatal(err)
	}
	s.waitCompactedForTest()
	if err := s.Defragment(); err != nil {
		t.Fatal(err)
	}
	if got := s.Size(); got > full/2 {
		t.Fatalf("size %d after delete and compaction, was %d", got, full)
	}
}
