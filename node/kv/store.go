package kv

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// Store is the state machine. The zero value is not usable; call New.
type Store struct {
	mu sync.RWMutex
	// rev is the store-wide revision: bumped once per write that changed
	// something, as in etcd (an empty store is at revision 1).
	rev int64
	// kvs holds the keys in order (etcd's own index is a google/btree
	// too): O(log n) puts and deletes, ordered range scans.
	kvs *btree.BTreeG[*mvccpb.KeyValue]

	// size is the data counted against the space quota (see alarm.go).
	size      int64
	alarms    map[alarmKey]struct{}
	sessions  *sessionTable
	members   map[uint64]*statepb.Member
	removed   map[uint64]bool
	gone      map[uint64]*statepb.Member // metadata of removed members
	clusterID uint64
}

// New returns an empty store at revision 1 (etcd's initial revision).
func New() *Store {
	return &Store{
		rev:      1,
		kvs:      newTree(),
		sessions: newSessionTable(),
		alarms:   map[alarmKey]struct{}{},
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
	return s.kvs.Len()
}

// btreeDegree is the B-tree's degree (etcd's treeIndex uses 32).
const btreeDegree = 32

func newTree() *btree.BTreeG[*mvccpb.KeyValue] {
	return btree.NewG(btreeDegree, func(a, b *mvccpb.KeyValue) bool { return bytes.Compare(a.Key, b.Key) < 0 })
}

// get returns the stored key, or nil. Caller holds mu.
func (s *Store) get(key []byte) *mvccpb.KeyValue {
	kv, _ := s.kvs.Get(&mvccpb.KeyValue{Key: key})
	return kv
}

// set stores kv (a fresh object) under its key. Caller holds mu.
func (s *Store) set(kv *mvccpb.KeyValue) {
	if old, ok := s.kvs.ReplaceOrInsert(kv); ok {
		s.size -= kvSize(old)
	}
	s.size += kvSize(kv)
}

// del removes key. Caller holds mu.
func (s *Store) del(key []byte) {
	if old, ok := s.kvs.Delete(&mvccpb.KeyValue{Key: key}); ok {
		s.size -= kvSize(old)
	}
}

// kvsIn returns the stored keys in [key, end), in order, with etcd's
// conventions: empty end means the single key; end "\x00" means every key
// >= key. Caller holds mu.
func (s *Store) kvsIn(key, end []byte) []*mvccpb.KeyValue {
	if len(end) == 0 {
		if kv := s.get(key); kv != nil {
			return []*mvccpb.KeyValue{kv}
		}
		return nil
	}
	var out []*mvccpb.KeyValue
	collect := func(kv *mvccpb.KeyValue) bool {
		out = append(out, kv)
		return true
	}
	from := &mvccpb.KeyValue{Key: key}
	if len(end) == 1 && end[0] == 0 {
		s.kvs.AscendGreaterOrEqual(from, collect)
	} else if bytes.Compare(key, end) < 0 {
		s.kvs.AscendRange(from, &mvccpb.KeyValue{Key: end}, collect)
	}
	return out
}

// Snapshot serialises the whole state.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := &statepb.Snapshot{Revision: s.rev, ClusterId: s.clusterID}
	var err error
	s.kvs.Ascend(func(kv *mvccpb.KeyValue) bool {
		var b []byte
		if b, err = proto.Marshal(kv); err != nil {
			err = fmt.Errorf("kv: marshal key %q: %w", kv.Key, err)
			return false
		}
		snap.Kvs = append(snap.Kvs, b)
		return true
	})
	if err != nil {
		return nil, err
	}
	snap.Sessions = s.sessions.all()
	if snap.Alarms, err = marshalAlarms(s.alarmsLocked()); err != nil {
		return nil, err
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
		fresh.set(kv)
	}
	alarms, err := unmarshalAlarms(snap.Alarms)
	if err != nil {
		return err
	}
	fresh.alarms = alarms
	for _, se := range snap.Sessions { // oldest first: keeps the LRU order
		fresh.sessions.put(se)
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
	s.rev, s.kvs, s.size, s.alarms = fresh.rev, fresh.kvs, fresh.size, fresh.alarms
	s.sessions, s.members, s.removed, s.gone, s.clusterID = fresh.sessions, fresh.members, fresh.removed, fresh.gone, fresh.clusterID
	return nil
}
