package kv

import (
	"encoding/binary"
	"hash/crc32"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// Reseed makes the state the start of a new cluster whose only member is
// self (--restore-from, --force-new-cluster): every other member is
// recorded as removed, so its ID can never come back, and the cluster ID
// becomes clusterID. Keys, revision and client sessions are kept.
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

// crcTable is Castagnoli, as etcd's HashKV uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// HashKV is a CRC-32C over every key with its value and revisions, in key
// order, and the revision it was taken at (one consistent read). Two
// replicas at the same revision must return the same hash; a difference
// means they diverged. Member metadata and sessions are left out, as in
// etcd's HashKV (which hashes only the key space).
func (s *Store) HashKV() (hash uint32, rev int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := crc32.New(crcTable)
	var buf [8]byte
	num := func(v int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	s.kvs.Ascend(func(kv *mvccpb.KeyValue) bool {
		num(int64(len(kv.Key)))
		h.Write(kv.Key)
		num(int64(len(kv.Value)))
		h.Write(kv.Value)
		num(kv.CreateRevision)
		num(kv.ModRevision)
		num(kv.Version)
		num(kv.Lease)
		return true
	})
	return h.Sum32(), s.rev
}
