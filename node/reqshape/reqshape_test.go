package reqshape

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func put(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
}

func del(k, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end)}}}
}

func txn(success, failure []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: success, Failure: failure}}}
}

func TestBranchWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []*pb.RequestOp
		dup  bool
	}{
		{"distinct puts", []*pb.RequestOp{put("a"), put("b")}, false},
		{"same key twice", []*pb.RequestOp{put("a"), put("a")}, true},
		{"put in deleted range", []*pb.RequestOp{del("a", "c"), put("b")}, true},
		{"put at range end", []*pb.RequestOp{del("a", "c"), put("c")}, false},
		{"put after from-key delete", []*pb.RequestOp{del("a", "\x00"), put("z")}, true},
		{"nested branch conflicts", []*pb.RequestOp{put("a"), txn(nil, []*pb.RequestOp{put("a")})}, true},
		{"nil operations", []*pb.RequestOp{nil, {Request: &pb.RequestOp_RequestTxn{}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := BranchWrites(tc.ops)
			if got := errors.Is(err, nodeerr.ErrDuplicateKey); got != tc.dup || (err != nil && !got) {
				t.Fatalf("BranchWrites = %v, want duplicate=%v", err, tc.dup)
			}
		})
	}
}

func TestPut(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *pb.PutRequest
		want error
	}{
		{"plain", &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}, nil},
		{"no key", &pb.PutRequest{Value: []byte("v")}, nodeerr.ErrEmptyKey},
		{"ignore_value with a value", &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}, nodeerr.ErrValueProvided},
		{"ignore_lease with a lease", &pb.PutRequest{Key: []byte("k"), Lease: 7, IgnoreLease: true}, nodeerr.ErrLeaseProvided},
		{"ignore both, nothing given", &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Put(tc.req); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Put = %v, want %v", err, tc.want)
			}
		})
	}
}
