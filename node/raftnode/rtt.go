package raftnode

import (
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// rttTracker times a leader's heartbeats to their responses, per peer, for
// etcd_network_peer_round_trip_time_seconds. Heartbeat responses carry no
// sequence number, so one heartbeat per peer is timed at a time: the first
// one sent while none is outstanding. An outstanding one older than maxAge
// counts as lost and the next heartbeat replaces it, so a lost response
// never turns into one huge sample.
type rttTracker struct {
	mu      sync.Mutex
	maxAge  time.Duration
	pending map[uint64]time.Time
	now     func() time.Time
	observe func(to uint64, d time.Duration)
}

func newRTTTracker(maxAge time.Duration, observe func(uint64, time.Duration)) *rttTracker {
	return &rttTracker{maxAge: maxAge, pending: map[uint64]time.Time{}, now: time.Now, observe: observe}
}

// sent notes the heartbeats among msgs.
func (r *rttTracker) sent(msgs []*raftpb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, m := range msgs {
		if m.GetType() != raftpb.MessageType_MsgHeartbeat {
			continue
		}
		if at, ok := r.pending[m.GetTo()]; ok && now.Sub(at) <= r.maxAge {
			continue
		}
		r.pending[m.GetTo()] = now
	}
}

// received times a heartbeat response against its peer's outstanding
// heartbeat, if any.
func (r *rttTracker) received(m *raftpb.Message) {
	if m.GetType() != raftpb.MessageType_MsgHeartbeatResp {
		return
	}
	r.mu.Lock()
	at, ok := r.pending[m.GetFrom()]
	delete(r.pending, m.GetFrom())
	now := r.now()
	r.mu.Unlock()
	if ok {
		r.observe(m.GetFrom(), now.Sub(at))
	}
}
