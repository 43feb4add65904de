package kv

import (
	"fmt"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// The space quota (issue 8 item 11), as etcd's: a member whose store would
// grow past --quota-backend-bytes proposes a NOSPACE alarm instead of the
// write; the alarm is replicated state, and while any NOSPACE alarm is
// raised every member refuses writes that add data (Put, a Txn with a Put,
// Append, IncrementAndGet) with etcd's ErrNoSpace. Reads and deletes go on,
// so an operator can delete and then disarm (Alarm DEACTIVATE).

// Size is the store's size as counted against the quota: the bbolt file's
// size, as etcd counts it. Deleting and compacting frees pages inside the
// file; Defragment gives them back, so that writes can resume after a
// disarm (etcd's procedure for NOSPACE).
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.eng.be.Size()
}

// Defragment rewrites this member's bbolt file without its free pages
// (etcd's Maintenance.Defragment). It blocks every other store call
// meanwhile; it changes no replicated state.
func (s *Store) Defragment() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return err
	}
	s.eng.kv.Commit()
	if err := s.eng.be.Defrag(); err != nil {
		return fmt.Errorf("kv: defragment: %w", err)
	}
	return nil
}

type alarmKey struct {
	member uint64
	alarm  pb.AlarmType
}

// Alarms lists the raised alarms, sorted by member then type.
func (s *Store) Alarms() []*pb.AlarmMember {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.alarmsLocked()
}

func (s *Store) alarmsLocked() []*pb.AlarmMember {
	out := make([]*pb.AlarmMember, 0, len(s.alarms))
	for k := range s.alarms {
		out = append(out, &pb.AlarmMember{MemberID: k.member, Alarm: k.alarm})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MemberID != out[j].MemberID {
			return out[i].MemberID < out[j].MemberID
		}
		return out[i].Alarm < out[j].Alarm
	})
	return out
}

// noSpace tells whether a NOSPACE alarm is raised. Caller holds mu.
func (s *Store) noSpace() bool {
	for k := range s.alarms {
		if k.alarm == pb.AlarmType_NOSPACE {
			return true
		}
	}
	return false
}

// applyAlarm raises or clears one member's alarm (etcd's applyAlarm). The
// response lists the alarm that changed, as etcd's does.
func (s *Store) applyAlarm(req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	k := alarmKey{member: req.MemberID, alarm: req.Alarm}
	resp := &pb.AlarmResponse{}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Action {
	case pb.AlarmRequest_ACTIVATE:
		if req.Alarm == pb.AlarmType_NONE {
			return resp, nil
		}
		s.alarms[k] = struct{}{}
	case pb.AlarmRequest_DEACTIVATE:
		if _, ok := s.alarms[k]; !ok {
			return resp, nil
		}
		delete(s.alarms, k)
	default:
		return nil, fmt.Errorf("%w: alarm action %v in the log", nodeerr.ErrUnimplemented, req.Action)
	}
	resp.Alarms = []*pb.AlarmMember{{MemberID: k.member, Alarm: k.alarm}}
	resp.Header = &pb.ResponseHeader{Revision: s.eng.kv.Rev()}
	return resp, nil
}

// AddsData tells whether cmd writes data that counts against the quota:
// the commands etcd's capped applier refuses under NOSPACE (lease grants
// included).
func AddsData(cmd *statepb.Command) bool {
	switch op := cmd.Op.(type) {
	case *statepb.Command_Put, *statepb.Command_Append, *statepb.Command_Increment, *statepb.Command_LeaseGrant:
		return true
	case *statepb.Command_Txn:
		req := &pb.TxnRequest{}
		// An undecodable txn fails at apply anyway; counting it as a
		// write keeps the quota check on the safe side.
		return proto.Unmarshal(op.Txn, req) != nil || txnPuts(req)
	}
	return false
}

// txnPuts tells whether req has a Put on either branch (etcd's quota cost
// of a txn is the cost of its puts).
func txnPuts(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestPut:
				return true
			case *pb.RequestOp_RequestTxn:
				if txnPuts(r.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}

func marshalAlarms(as []*pb.AlarmMember) ([][]byte, error) {
	out := make([][]byte, 0, len(as))
	for _, a := range as {
		b, err := proto.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("kv: marshal alarm: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

func unmarshalAlarms(bs [][]byte) (map[alarmKey]struct{}, error) {
	out := map[alarmKey]struct{}{}
	for _, b := range bs {
		a := &pb.AlarmMember{}
		if err := proto.Unmarshal(b, a); err != nil {
			return nil, fmt.Errorf("kv: unmarshal alarm: %w", err)
		}
		out[alarmKey{member: a.MemberID, alarm: a.Alarm}] = struct{}{}
	}
	return out, nil
}
