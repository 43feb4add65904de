package kv

import (
	"container/list"
	"crypto/sha256"

	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// The at-most-once session table (Raft thesis §6.3, "Implementing
// linearizable semantics"): one record per client id with the last applied
// sequence number and its response. It is part of the replicated state, so
// every rule here depends only on the applied log.
const (
	// MaxSessions bounds the table. The thesis offers two deterministic
	// expiry policies, LRU over a fixed number of sessions or a leader
	// clock in every entry; LRU needs no clock and no extra log field.
	// A client idle while MaxSessions other clients wrote loses its
	// session; a retry of its last command is then applied as new.
	MaxSessions = 8192
	// MaxRecordedResultBytes caps one recorded response, so the table's
	// memory and snapshot share stay bounded (MaxSessions × this = 128 MiB
	// at worst). A larger response is replaced by a "not kept" marker: a
	// retry is told the command was applied but gets no response.
	MaxRecordedResultBytes = 16 << 10
	// fingerprintBytes is how much of a command's SHA-256 a session keeps:
	// enough that two different commands never collide in practice.
	fingerprintBytes = 16
)

// ErrStaleSequence is nodeerr.ErrStaleSequence, kept under its old name.
var ErrStaleSequence = nodeerr.ErrStaleSequence

// sessionTable holds the sessions in least-recently-used order: front is
// the oldest, evicted first. Caller holds the store's mu.
type sessionTable struct {
	byID  map[string]*list.Element // value: *statepb.Session
	order *list.List
}

func newSessionTable() *sessionTable {
	return &sessionTable{byID: map[string]*list.Element{}, order: list.New()}
}

func (t *sessionTable) get(id string) *statepb.Session {
	if e := t.byID[id]; e != nil {
		return e.Value.(*statepb.Session)
	}
	return nil
}

// put records se as the most recently used session, evicting the least
// recently used one when the table is full.
func (t *sessionTable) put(se *statepb.Session) {
	if e := t.byID[se.ClientId]; e != nil {
		e.Value = se
		t.order.MoveToBack(e)
		return
	}
	t.byID[se.ClientId] = t.order.PushBack(se)
	for t.order.Len() > MaxSessions {
		oldest := t.order.Front()
		t.order.Remove(oldest)
		delete(t.byID, oldest.Value.(*statepb.Session).ClientId)
	}
}

// all returns the sessions oldest first (the order a snapshot keeps).
func (t *sessionTable) all() []*statepb.Session {
	out := make([]*statepb.Session, 0, t.order.Len())
	for e := t.order.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*statepb.Session))
	}
	return out
}

func (t *sessionTable) len() int { return t.order.Len() }

// fingerprint identifies what a command does, leaving out its identity
// (request id, client id, seq), so a retry of the same command matches.
func fingerprint(cmd *statepb.Command) []byte {
	bare := &statepb.Command{Op: cmd.Op}
	// Marshalling a decoded command cannot fail; an empty fingerprint
	// disables the reuse check for this one command rather than failing it.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(bare)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:fingerprintBytes]
}

// lookupSession decides whether cmd was applied before: it returns the
// answer to give without applying it, or ok=false to apply it.
func (s *Store) lookupSession(cmd *statepb.Command, fp []byte) (Result, bool) {
	s.mu.RLock()
	se := s.sessions.get(cmd.ClientId)
	s.mu.RUnlock()
	switch {
	case se == nil || cmd.Seq > se.Seq:
		return Result{}, false
	case cmd.Seq < se.Seq:
		return Result{Err: nodeerr.ErrStaleSequence}, true
	case len(se.Fingerprint) > 0 && len(fp) > 0 && string(se.Fingerprint) != string(fp):
		// Same id and seq, another command: a second client run reusing
		// the id. Answering with the first run's result would report a
		// write that this request never made.
		return Result{Err: nodeerr.ErrSequenceReused}, true
	}
	return decodeResult(se.Result), true
}

func (s *Store) recordSession(cmd *statepb.Command, fp []byte, r Result) {
	se := &statepb.Session{ClientId: cmd.ClientId, Seq: cmd.Seq, Result: encodeResult(r), Fingerprint: fp}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions.put(se)
}

// SessionCount is the number of sessions held (for tests and metrics).
func (s *Store) SessionCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions.len()
}
