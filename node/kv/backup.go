package kv

import (
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// Reseed makes the state the start of a new cluster whose only member is
// self (--restore-from, --force-new-cluster): every other member is
// recorded as removed, so its ID can never come back, and the cluster ID
// becomes clusterID. Keys, revisions, leases, history and client sessions
// (the bbolt backend) are kept.
func (s *Store) Reseed(self *statepb.Member, clusterID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, m := range s.members {
		if id != self.Id {
			s.gone[id], s.removed[id] = m, true
		}
	}
	m := proto.Clone(self).(*statepb.Member)
	m.IsLearner, m.Started = false, true
	s.members = map[uint64]*statepb.Member{self.Id: m}
	s.clusterID = clusterID
}

// HashKV is etcd's Maintenance.HashKV on this replica: the mvcc hash
// (CRC-32C over every key revision up to rev since the last compaction,
// mvcc.HashStorage.HashByRev) and the current revision. rev 0 means the
// current revision. Replicas that applied the same log agree at every
// revision both still hold; a difference means they diverged. Using etcd's
// own hash keeps its semantics (and its compacted / future-revision
// errors) exactly.
func (s *Store) HashKV(rev int64) (mvcc.KeyValueHash, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return mvcc.KeyValueHash{}, 0, err
	}
	h, cur, err := s.eng.kv.HashStorage().HashByRev(rev)
	return h, cur, translate(err)
}
