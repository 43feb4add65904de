package server

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/reqshape"
)

// The validators below are the node's only check of a request's shape: they
// reject bad input before anything reaches raft, so a rejected request is
// never written, and the state machine (node/kv) applies what they let
// through without checking it again. They mirror etcd's checks in
// server/etcdserver/api/v3rpc/key.go and member.go and return nodeerr
// sentinels, which ToGRPCError turns into etcd's statuses (clientv3 maps
// those to typed errors). Only checks that depend on the state (revisions,
// membership) are the Backend's.

// checkSize rejects a request larger than limit bytes (etcd's
// --max-request-bytes). gRPC's MaxRecvMsgSize is set a little higher, so the
// client gets etcd's InvalidArgument "request is too large" instead of a
// transport-level ResourceExhausted.
func checkSize(req proto.Message, limit int) error {
	if limit > 0 && proto.Size(req) > limit {
		return nodeerr.ErrRequestTooLarge
	}
	return nil
}

func checkRange(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return nodeerr.ErrEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return nodeerr.ErrInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return nodeerr.ErrInvalidSortOption
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	return checkKey(r.GetKey())
}

// checkTxn bounds the number of operations per branch (etcd's --max-txn-ops),
// checks every nested operation and refuses a branch that writes a key twice
// (etcd's checkIntervals).
func checkTxn(r *pb.TxnRequest, maxOps int) error {
	if err := checkTxnOps(r, maxOps); err != nil {
		return err
	}
	for _, branch := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		if err := reqshape.BranchWrites(branch); err != nil {
			return err
		}
	}
	return nil
}

func checkTxnOps(r *pb.TxnRequest, maxOps int) error {
	n := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if n > maxOps {
		return nodeerr.ErrTooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return nodeerr.ErrEmptyKey
		}
	}
	for _, branch := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range branch {
			if err := checkRequestOp(op, maxOps); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRequestOp(op *pb.RequestOp, maxOps int) error {
	switch v := op.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		return checkRange(v.RequestRange)
	case *pb.RequestOp_RequestPut:
		return reqshape.Put(v.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return checkDelete(v.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return checkTxnOps(v.RequestTxn, maxOps)
	default:
		return nodeerr.ErrEmptyOperation
	}
}

// checkPeerURLs accepts what etcd accepts: http(s)://host:port without a
// path, or unix(s) sockets; at least one URL.
func checkPeerURLs(urls []string) error {
	if _, err := types.NewURLs(urls); err != nil {
		return nodeerr.ErrMemberBadURLs
	}
	return nil
}

// checkMemberID rejects ID 0, which raft reserves for "no node"; any other
// unknown ID is the Backend's to report.
func checkMemberID(id uint64) error {
	if id == 0 {
		return nodeerr.ErrMemberNotFound
	}
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return nodeerr.ErrEmptyKey
	}
	return nil
}

// checkChangeMembers validates the shape of a joint change; whether it is
// allowed in the current configuration is the Backend's decision.
func checkChangeMembers(r *nodepb.ChangeMembersRequest) error {
	if len(r.GetChanges()) == 0 {
		return invalidChange("no changes given")
	}
	seen := map[uint64]bool{}
	for i, c := range r.GetChanges() {
		if err := checkChange(c); err != nil {
			return invalidChange(fmt.Sprintf("change %d: %s", i, err))
		}
		if c.GetId() != 0 && seen[c.GetId()] {
			return invalidChange(fmt.Sprintf("change %d: member %x appears twice", i, c.GetId()))
		}
		seen[c.GetId()] = true
	}
	return nil
}

func checkChange(c *nodepb.MemberChange) error {
	switch c.GetType() {
	case nodepb.MemberChange_ADD_LEARNER, nodepb.MemberChange_ADD_VOTER:
		// name may be empty, as in etcd's MemberAdd: the member reports it
		// when it starts.
		if c.GetId() != 0 {
			return fmt.Errorf("id must be 0: the cluster allocates it")
		}
		if _, err := types.NewURLs(c.GetPeerUrls()); err != nil {
			return fmt.Errorf("bad peer URLs: %w", err)
		}
	case nodepb.MemberChange_PROMOTE, nodepb.MemberChange_REMOVE, nodepb.MemberChange_DEMOTE:
		if c.GetId() == 0 {
			return fmt.Errorf("id is required")
		}
		if c.GetName() != "" || len(c.GetPeerUrls()) != 0 {
			return fmt.Errorf("name and peer_urls are only for ADD_LEARNER and ADD_VOTER")
		}
	default:
		return fmt.Errorf("unknown change type %v", c.GetType())
	}
	return nil
}

func invalidChange(detail string) error {
	return fmt.Errorf("%w: %s", nodeerr.ErrInvalidChange, detail)
}
