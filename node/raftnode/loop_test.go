package raftnode

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func ents(lo, hi uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, &raftpb.Entry{Index: new(i)})
	}
	return out
}

// TestAlreadyDurable pins the #14370 guard: entries committed in the same
// Ready that writes them (the single-voter case) are applied only after
// the write.
func TestAlreadyDurable(t *testing.T) {
	cases := []struct {
		name                string
		committed, unstable []*raftpb.Entry
		want                bool
	}{
		{"nothing committed", nil, ents(5, 6), false},
		{"committed, nothing new", ents(3, 4), nil, true},
		{"committed before new entries", ents(3, 4), ents(5, 6), true},
		{"single voter: same entries", ents(5, 6), ents(5, 6), false},
		{"overlap at the end", ents(3, 5), ents(5, 6), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := alreadyDurable(tc.committed, tc.unstable); got != tc.want {
				t.Fatalf("alreadyDurable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSplitForwards(t *testing.T) {
	msg := func(typ raftpb.MessageType) *raftpb.Message { return &raftpb.Message{Type: typ.Enum()} }
	msgs := []*raftpb.Message{
		msg(raftpb.MessageType_MsgProp), msg(raftpb.MessageType_MsgAppResp), msg(raftpb.MessageType_MsgReadIndex),
		msg(raftpb.MessageType_MsgVoteResp), msg(raftpb.MessageType_MsgPreVote), msg(raftpb.MessageType_MsgHeartbeatResp),
	}
	forwards, rest := splitForwards(msgs)
	if len(forwards) != 2 || forwards[0].GetType() != raftpb.MessageType_MsgProp || forwards[1].GetType() != raftpb.MessageType_MsgReadIndex {
		t.Fatalf("forwards = %v", forwards)
	}
	// Everything that states something about our log, term or vote waits.
	if len(rest) != 4 {
		t.Fatalf("rest = %v", rest)
	}
}
