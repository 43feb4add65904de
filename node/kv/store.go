package kv

import (
	"fmt"
	"sort"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// Store is the state machine. The zero value is not usable; call New.
type Store struct {
	mu sync.RWMutex
	// rev is the store-wide revision: bumped once per write that changed
	// something, as in etcd (an empty store is at revision 1).
	rev  int64
	keys []string // sorted, the keys of kvs
	kvs  map[string]*mvccpb.KeyValue

	sessions  map[string]*statepb.Session
	members   map[uint64]*statepb.Member
	removed   map[uint64]bool
	gone      map[uint64]*statepb.Member // metadata of removed members
	clusterID uint64
}

// New returns an empty store at revision 1 (etcd's initial revision).
func New() *Store {
	return &Store{
		rev:      1,
		kvs:      map[string]*mvccpb.KeyValue{},
		sessions: map[string]*statepb.Session{},
		members:  map[uint64]*statepb.Member{},
		removed:  map[uint64]bool{},
		gone:     map[uint64]*statepb.Member{},
	}
}

// Revision is the current store revision.
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Len is the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// set stores kv (a fresh object) under its key. Caller holds mu.
func (s *Store) set(kv *mvccpb.KeyValue) {
	k := string(kv.Key)
	if _, ok := s.kvs[k]; !ok {
		i := sort.SearchStrings(s.keys, k)
		s.keys = append(s.keys, "")
		copy(s.keys[i+1:], s.keys[i:])
		s.keys[i] = k
	}
	s.kvs[k] = kv
}

// del removes key k. Caller holds mu.
func (s *Store) del(k string) {
	if _, ok := s.kvs[k]; !ok {
		return
	}
	delete(s.kvs, k)
	i := sort.SearchStrings(s.keys, k)
	s.keys = append(s.keys[:i], s.keys[i+1:]...)
}

// keysIn returns the sorted keys in [key, end) with etcd's conventions:
// empty end means the single key; end "\x00" means every key >= key.
// Caller holds mu.
func (s *Store) keysIn(key, end []byte) []string {
	if len(end) == 0 {
		if _, ok := s.kvs[string(key)]; ok {
			return []string{string(key)}
		}
		return nil
	}
	lo := sort.SearchStrings(s.keys, string(key))
	hi := len(s.keys)
	if !(len(end) == 1 && end[0] == 0) {
		hi = sort.SearchStrings(s.keys, string(end))
	}
	if hi <= lo {
		return nil
	}
	return s.keys[lo:hi]
}

// Snapshot serialises the whole state.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := &statepb.Snapshot{Revision: s.rev, ClusterId: s.clusterID}
	for _, k := range s.keys {
		b, err := proto.Marshal(s.kvs[k])
		if err != nil {
			return nil, fmt.Errorf("kv: marshal key %q: %w", k, err)
		}
		snap.Kvs = append(snap.Kvs, b)
	}
	for _, id := range sortedIDs(s.sessions) {
		snap.Sessions = append(snap.Sessions, s.sessions[id])
	}
	snap.Members = s.membersLocked()
	for id := range s.removed {
		snap.Removed = append(snap.Removed, id)
	}
	sort.Slice(snap.Removed, func(i, j int) bool { return snap.Removed[i] < snap.Removed[j] })
	for _, id := range snap.Removed {
		if m := s.gone[id]; m != nil {
			snap.RemovedMembers = append(snap.RemovedMembers, m)
		}
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
}

// Restore replaces the whole state with a Snapshot's.
func (s *Store) Restore(data []byte) error {
	snap := &statepb.Snapshot{}
	if err := proto.Unmarshal(data, snap); err != nil {
		return fmt.Errorf("kv: unmarshal snapshot: %w", err)
	}
	fresh := New()
	fresh.rev, fresh.clusterID = snap.Revision, snap.ClusterId
	for _, b := range snap.Kvs {
		kv := &mvccpb.KeyValue{}
		if err := proto.Unmarshal(b, kv); err != nil {
			return fmt.Errorf("kv: unmarshal snapshot key: %w", err)
		}
		fresh.kvs[string(kv.Key)] = kv
		fresh.keys = append(fresh.keys, string(kv.Key))
	}
	sort.Strings(fresh.keys)
	for _, se := range snap.Sessions {
		fresh.sessions[se.ClientId] = se
	}
	for _, m := range snap.Members {
		fresh.members[m.Id] = m
	}
	for _, id := range snap.Removed {
		fresh.removed[id] = true
	}
	for _, m := range snap.RemovedMembers {
		fresh.gone[m.Id] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev, s.keys, s.kvs = fresh.rev, fresh.keys, fresh.kvs
	s.sessions, s.members, s.removed, s.gone, s.clusterID = fresh.sessions, fresh.members, fresh.removed, fresh.gone, fresh.clusterID
	return nil
}

func sortedIDs(m map[string]*statepb.Session) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
