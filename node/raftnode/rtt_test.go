package raftnode

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func TestRTTTracker(t *testing.T) {
	type sample struct {
		to uint64
		d  time.Duration
	}
	var got []sample
	now := time.Unix(0, 0)
	r := newRTTTracker(time.Second, func(to uint64, d time.Duration) { got = append(got, sample{to, d}) })
	r.now = func() time.Time { return now }
	hb := func(to uint64) []*raftpb.Message {
		return []*raftpb.Message{{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: &to}, {Type: raftpb.MessageType_MsgApp.Enum(), To: &to}}
	}
	resp := func(from uint64) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MessageType_MsgHeartbeatResp.Enum(), From: &from}
	}

	r.sent(hb(2))
	now = now.Add(5 * time.Millisecond)
	r.sent(hb(2)) // still outstanding: the first one is timed
	now = now.Add(5 * time.Millisecond)
	r.received(resp(2))
	r.received(resp(2)) // nothing outstanding: no sample
	r.received(resp(3)) // never sent: no sample
	if len(got) != 1 || got[0] != (sample{2, 10 * time.Millisecond}) {
		t.Fatalf("samples %v, want one of 10ms to 2", got)
	}

	// A heartbeat whose response was lost is replaced after maxAge, so a
	// late response is not timed against it.
	r.sent(hb(3))
	now = now.Add(2 * time.Second)
	r.sent(hb(3))
	now = now.Add(3 * time.Millisecond)
	r.received(resp(3))
	if len(got) != 2 || got[1] != (sample{3, 3 * time.Millisecond}) {
		t.Fatalf("samples %v, want a second one of 3ms to 3", got)
	}
}
