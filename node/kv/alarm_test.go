package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
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
	s := New()
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
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	if r := restored.Apply(put("c")); !errors.Is(r.Err, nodeerr.ErrNoSpace) {
		t.Fatalf("restored member took a put under NOSPACE: %v", r.Err)
	}
	if restored.Size() != s.Size() {
		t.Fatalf("restored size %d, original %d", restored.Size(), s.Size())
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

func TestSizeAccounting(t *testing.T) {
	s := New()
	if s.Size() != 0 {
		t.Fatalf("empty store size %d", s.Size())
	}
	mustPut(t, s, "k", "12345")
	one := int64(len("k")+len("12345")) + kvOverheadBytes
	if s.Size() != one {
		t.Fatalf("size %d, want %d", s.Size(), one)
	}
	mustPut(t, s, "k", "1")
	if _, err := s.Append(&statepb.AppendOp{Key: []byte("k"), Suffix: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if want := int64(len("k")+len("12")) + kvOverheadBytes; s.Size() != want {
		t.Fatalf("size after overwrite %d, want %d", s.Size(), want)
	}
	if _, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("n"), Delta: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	if s.Size() != 0 {
		t.Fatalf("size after deleting everything %d, want 0", s.Size())
	}
}
