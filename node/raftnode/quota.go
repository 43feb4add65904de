package raftnode

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// checkQuota is etcd's quota check before proposing (etcdserver's
// v3_server.go processInternalRaftRequestOnce with quota.Available): a
// command that adds data and would take the store past QuotaBackendBytes is
// not proposed; instead this member raises the NOSPACE alarm through raft,
// so that every member refuses such writes from then on (kv/alarm.go), and
// the caller gets etcd's ErrNoSpace. cost is the proposal's size, an upper
// bound of what it adds.
func (n *Node) checkQuota(ctx context.Context, cmd *statepb.Command, cost int) error {
	quota := n.cfg.QuotaBackendBytes
	if quota < 0 || !kv.AddsData(cmd) || n.kv.Size()+int64(cost) <= quota {
		return nil
	}
	n.lg.Warn("Raising NOSPACE alarm", zap.Int64("size", n.kv.Size()), zap.Int64("quota", quota))
	req := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: n.id, Alarm: pb.AlarmType_NOSPACE}
	if _, err := n.proposeAlarm(ctx, req); err != nil {
		// The write is refused either way; a failed alarm is raised again
		// by the next write over quota.
		n.lg.Warn("Raising NOSPACE alarm failed", zap.Error(err))
	}
	return nodeerr.ErrNoSpace
}

// Alarm implements etcd's Maintenance.Alarm: GET lists the raised alarms
// (this member's applied view, as etcd answers it locally); ACTIVATE and
// DEACTIVATE go through raft, so every member agrees on them.
func (n *Node) Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	switch req.Action {
	case pb.AlarmRequest_GET:
		var out []*pb.AlarmMember
		for _, a := range n.kv.Alarms() {
			if req.Alarm == pb.AlarmType_NONE || req.Alarm == a.Alarm {
				out = append(out, a)
			}
		}
		return &pb.AlarmResponse{Header: n.header(nil), Alarms: out}, nil
	case pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE:
		return n.proposeAlarm(ctx, req)
	}
	return nil, fmt.Errorf("%w: alarm action %v", nodeerr.ErrUnimplemented, req.Action)
}

// proposeAlarm replicates an alarm change. It carries no client identity:
// raising or clearing an alarm twice is harmless.
func (n *Node) proposeAlarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("raftnode: marshal alarm: %w", err)
	}
	resp, err := n.propose(clientseq.With(ctx, clientseq.Ident{}), &statepb.Command{Op: &statepb.Command_Alarm{Alarm: data}})
	if err != nil {
		return nil, err
	}
	ar, ok := resp.(*pb.AlarmResponse)
	if !ok {
		return nil, fmt.Errorf("raftnode: alarm applied with a %T result", resp)
	}
	ar.Header = n.header(ar.Header)
	return ar, nil
}
