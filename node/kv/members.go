package kv

import (
	"fmt"
	"sort"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Members returns copies of the members, sorted by ID.
func (s *Store) Members() []*statepb.Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.membersLocked()
}

func (s *Store) membersLocked() []*statepb.Member {
	out := make([]*statepb.Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, proto.Clone(m).(*statepb.Member))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// Member returns a copy of member id.
func (s *Store) Member(id uint64) (*statepb.Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.members[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(m).(*statepb.Member), true
}

// IsRemoved tells whether id was ever removed; removed IDs are never
// reused.
func (s *Store) IsRemoved(id uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.removed[id]
}

// RemovedMember returns the metadata a removed member had.
func (s *Store) RemovedMember(id uint64) (*statepb.Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.gone[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(m).(*statepb.Member), true
}

// Removed returns the removed IDs, sorted.
func (s *Store) Removed() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]uint64, 0, len(s.removed))
	for id := range s.removed {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ClusterID is the cluster's ID, as recorded with the state.
func (s *Store) ClusterID() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clusterID
}

// SetClusterID records the cluster's ID (set once, at bootstrap or join).
func (s *Store) SetClusterID(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusterID = id
}

// ApplyConfChange updates the member metadata for an applied conf change.
// added carries the metadata of members the change adds. It validates the
// whole change against the state first and changes nothing on error; the
// raft driver then cancels the change (zeroing its node IDs), so every
// replica takes the same decision from the same state.
func (s *Store) ApplyConfChange(cc *raftpb.ConfChangeV2, added []*statepb.Member) error {
	byID := map[uint64]*statepb.Member{}
	for _, m := range added {
		byID[m.Id] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range cc.Changes {
		if err := s.checkChange(ch, byID); err != nil {
			return err
		}
	}
	for _, ch := range cc.Changes {
		s.doChange(ch, byID)
	}
	return nil
}

func (s *Store) checkChange(ch *raftpb.ConfChangeSingle, added map[uint64]*statepb.Member) error {
	id := ch.GetNodeId()
	if id == 0 {
		return fmt.Errorf("%w: node id 0", nodeerr.ErrInvalidChange)
	}
	if s.removed[id] {
		return nodeerr.ErrIDRemoved
	}
	_, exists := s.members[id]
	switch ch.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode:
		if !exists && added[id] == nil {
			return fmt.Errorf("%w: no metadata for new member %x", nodeerr.ErrInvalidChange, id)
		}
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		if !exists {
			return nodeerr.ErrMemberNotFound
		}
	default:
		return fmt.Errorf("%w: change type %v", nodeerr.ErrInvalidChange, ch.GetType())
	}
	return nil
}

func (s *Store) doChange(ch *raftpb.ConfChangeSingle, added map[uint64]*statepb.Member) {
	id := ch.GetNodeId()
	learner := ch.GetType() == raftpb.ConfChangeType_ConfChangeAddLearnerNode
	switch ch.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode:
		if m, ok := s.members[id]; ok {
			m = proto.Clone(m).(*statepb.Member)
			m.IsLearner = learner
			s.members[id] = m
			return
		}
		m := proto.Clone(added[id]).(*statepb.Member)
		m.IsLearner = learner
		s.members[id] = m
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		s.gone[id] = s.members[id]
		delete(s.members, id)
		s.removed[id] = true
	}
}

// Publish records the name and client URLs a running member announces;
// the member must exist and the name must not belong to another member.
func (s *Store) Publish(attrs *statepb.Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[attrs.Id]
	if !ok {
		return nodeerr.ErrMemberNotFound
	}
	for id, o := range s.members {
		if id != attrs.Id && attrs.Name != "" && o.Name == attrs.Name {
			return nodeerr.ErrNameExists
		}
	}
	m = proto.Clone(m).(*statepb.Member)
	m.Name, m.ClientUrls, m.Started = attrs.Name, append([]string(nil), attrs.ClientUrls...), true
	s.members[attrs.Id] = m
	return nil
}
