// Package txncheck is the one home of etcd's rule that a Txn branch writes
// each key at most once (etcd's checkIntervals): no key put twice and no key
// put inside a range the same branch deletes, nested txns included. The rule
// depends only on the request, so the client server checks it before
// proposing and the store checks it again before applying; both call here.
package reqshape

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Put follows etcd's checkPutRequest (server/etcdserver/api/v3rpc/key.go);
// the state-dependent checks (lease exists, key exists for ignore_*) are
// etcd's txn.Put's, at apply.
func Put(r *pb.PutRequest) error {
	switch {
	case len(r.GetKey()) == 0:
		return nodeerr.ErrEmptyKey
	case r.GetIgnoreValue() && len(r.GetValue()) != 0:
		return nodeerr.ErrValueProvided
	case r.GetIgnoreLease() && r.GetLease() != 0:
		return nodeerr.ErrLeaseProvided
	}
	return nil
}

// BranchWrites returns nodeerr.ErrDuplicateKey when ops, one branch of a
// Txn, write a key twice. It uses the nil-safe getters, so it may run on a
// request no other check has seen yet.
func BranchWrites(ops []*pb.RequestOp) error {
	var b branchWrites
	return b.collect(ops)
}

// branchWrites gathers the writes of one branch, nested txns included.
type branchWrites struct {
	puts    map[string]bool
	deletes [][2][]byte
}

func (b *branchWrites) collect(ops []*pb.RequestOp) error {
	if b.puts == nil {
		b.puts = map[string]bool{}
	}
	for _, op := range ops {
		switch r := op.GetRequest().(type) {
		case *pb.RequestOp_RequestPut:
			k := string(r.RequestPut.GetKey())
			if b.puts[k] {
				return nodeerr.ErrDuplicateKey
			}
			b.puts[k] = true
		case *pb.RequestOp_RequestDeleteRange:
			b.deletes = append(b.deletes, [2][]byte{r.RequestDeleteRange.GetKey(), r.RequestDeleteRange.GetRangeEnd()})
		case *pb.RequestOp_RequestTxn:
			// Only one nested branch runs, but etcd refuses conflicts with
			// either, which keeps the check state-independent.
			if err := b.collect(append(append([]*pb.RequestOp{}, r.RequestTxn.GetSuccess()...), r.RequestTxn.GetFailure()...)); err != nil {
				return err
			}
		}
	}
	for k := range b.puts {
		for _, d := range b.deletes {
			if inRange([]byte(k), d[0], d[1]) {
				return nodeerr.ErrDuplicateKey
			}
		}
	}
	return nil
}

// inRange tells whether k is in [key, end), etcd's range convention: no end
// means key alone, end "\x00" means every key from key on.
func inRange(k, key, end []byte) bool {
	if len(end) == 0 {
		return bytes.Equal(k, key)
	}
	if bytes.Compare(k, key) < 0 {
		return false
	}
	return (len(end) == 1 && end[0] == 0) || bytes.Compare(k, end) < 0
}
