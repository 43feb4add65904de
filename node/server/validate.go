package server

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// The validators below reject bad input before anything reaches raft, so a
// rejected request is never written. They mirror etcd's checks in
// server/etcdserver/api/v3rpc/key.go and member.go and return the same
// statuses, which clientv3 maps to typed errors.

// checkSize rejects a request larger than limit bytes (etcd's
// --max-request-bytes). gRPC's MaxRecvMsgSize is set a little higher, so the
// client gets etcd's InvalidArgument "request is too large" instead of a
// transport-level ResourceExhausted.
func checkSize(req proto.Message, limit int) error {
	if limit > 0 && proto.Size(req) > limit {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

func checkRange(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func checkPut(r *pb.PutRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.GetIgnoreValue() && len(r.GetValue()) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.GetIgnoreLease() && r.GetLease() != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// checkTxn bounds the number of operations per branch (etcd's --max-txn-ops)
// and checks every nested operation.
func checkTxn(r *pb.TxnRequest, maxOps int) error {
	n := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if n > maxOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return rpctypes.ErrGRPCEmptyKey
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
		return checkPut(v.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return checkDelete(v.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return checkTxn(v.RequestTxn, maxOps)
	default:
		// An empty operation; etcd answers the same.
		return rpctypes.ErrGRPCKeyNotFound
	}
}

// checkPeerURLs accepts what etcd accepts: http(s)://host:port without a
// path, or unix(s) sockets; at least one URL.
func checkPeerURLs(urls []string) error {
	if _, err := types.NewURLs(urls); err != nil {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	return nil
}

// checkMemberID rejects ID 0, which raft reserves for "no node"; any other
// unknown ID is the Backend's to report.
func checkMemberID(id uint64) error {
	if id == 0 {
		return rpctypes.ErrGRPCMemberNotFound
	}
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
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
	return status.Error(codes.InvalidArgument, nodeerr.ErrInvalidChange.Error()+": "+detail)
}
