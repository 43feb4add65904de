package server

import (
	"context"
	"io"
	"strings"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// fakeBackend records each call and answers with err (when set) or a canned
// response. It holds no data: tests check what reached it, not storage.
type fakeBackend struct {
	mu     sync.Mutex
	calls  []string
	idents []clientseq.Ident
	err    error
	// store, when set, serves the watch calls (a real kv.Store: the watch
	// semantics are etcd's mvcc's, the handler is what is under test).
	store *kv.Store
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) record(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if id, ok := clientseq.From(ctx); ok {
		f.idents = append(f.idents, id)
	}
	return f.err
}

func (f *fakeBackend) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Idents() []clientseq.Ident {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]clientseq.Ident(nil), f.idents...)
}

func hdr() *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: 7, MemberId: 1, Revision: 5, RaftTerm: 2}
}

func (f *fakeBackend) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := f.record(ctx, "Range"); err != nil {
		return nil, err
	}
	return &pb.RangeResponse{Header: hdr(), Kvs: []*mvccpb.KeyValue{{Key: r.Key, Value: []byte("v"), ModRevision: 5, CreateRevision: 5, Version: 1}}, Count: 1}, nil
}

func (f *fakeBackend) Put(ctx context.Context, _ *pb.PutRequest) (*pb.PutResponse, error) {
	if err := f.record(ctx, "Put"); err != nil {
		return nil, err
	}
	return &pb.PutResponse{Header: hdr()}, nil
}

func (f *fakeBackend) DeleteRange(ctx context.Context, _ *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := f.record(ctx, "DeleteRange"); err != nil {
		return nil, err
	}
	return &pb.DeleteRangeResponse{Header: hdr(), Deleted: 1}, nil
}

func (f *fakeBackend) Txn(ctx context.Context, _ *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := f.record(ctx, "Txn"); err != nil {
		return nil, err
	}
	return &pb.TxnResponse{Header: hdr(), Succeeded: true}, nil
}

func (f *fakeBackend) Append(ctx context.Context, r *nodepb.AppendRequest) (*nodepb.AppendResponse, error) {
	if err := f.record(ctx, "Append"); err != nil {
		return nil, err
	}
	return &nodepb.AppendResponse{Value: r.Suffix, Revision: 6}, nil
}

func (f *fakeBackend) IncrementAndGet(ctx context.Context, r *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	if err := f.record(ctx, "IncrementAndGet"); err != nil {
		return nil, err
	}
	return &nodepb.IncrementResponse{Value: r.Delta, Revision: 6}, nil
}

func (f *fakeBackend) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if err := f.record(ctx, "MemberList"); err != nil {
		return nil, err
	}
	return &pb.MemberListResponse{Header: hdr(), Members: []*pb.Member{{ID: 1, Name: "a"}}}, nil
}

func (f *fakeBackend) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := f.record(ctx, "MemberAdd"); err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{Header: hdr(), Member: &pb.Member{ID: 9, PeerURLs: r.PeerURLs, IsLearner: r.IsLearner}}, nil
}

func (f *fakeBackend) MemberRemove(ctx context.Context, _ *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if err := f.record(ctx, "MemberRemove"); err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: hdr()}, nil
}

func (f *fakeBackend) MemberPromote(ctx context.Context, _ *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if err := f.record(ctx, "MemberPromote"); err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: hdr()}, nil
}

func (f *fakeBackend) ChangeMembers(ctx context.Context, _ *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	if err := f.record(ctx, "ChangeMembers"); err != nil {
		return nil, err
	}
	return &nodepb.ChangeMembersResponse{}, nil
}

// Status never fails: it is local by contract, and header() relies on it.
func (f *fakeBackend) Status(context.Context) (*nodepb.StatusResponse, error) {
	return &nodepb.StatusResponse{Id: 1, ClusterId: 7, Term: 2, Leader: 1, Role: "Leader"}, nil
}

func (f *fakeBackend) EtcdStatus(ctx context.Context) (*pb.StatusResponse, error) {
	if err := f.record(ctx, "EtcdStatus"); err != nil {
		return nil, err
	}
	return &pb.StatusResponse{Header: hdr(), Leader: 1, RaftTerm: 2, RaftIndex: 10, RaftAppliedIndex: 10, Version: "test"}, nil
}

func (f *fakeBackend) MoveLeader(ctx context.Context, _ uint64) error {
	return f.record(ctx, "MoveLeader")
}

func (f *fakeBackend) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if err := f.record(ctx, "Alarm"); err != nil {
		return nil, err
	}
	resp := &pb.AlarmResponse{Header: hdr()}
	if r.Action == pb.AlarmRequest_GET {
		resp.Alarms = []*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_NOSPACE}}
	}
	return resp, nil
}

func (f *fakeBackend) Compact(ctx context.Context, _ *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if err := f.record(ctx, "Compact"); err != nil {
		return nil, err
	}
	return &pb.CompactionResponse{Header: hdr()}, nil
}

func (f *fakeBackend) Defragment(ctx context.Context) error {
	return f.record(ctx, "Defragment")
}

func (f *fakeBackend) NewWatchStream() (mvcc.WatchStream, error) {
	if f.store == nil {
		return nil, nodeerr.ErrUnimplemented
	}
	return f.store.NewWatchStream()
}

func (f *fakeBackend) PrevKV(key []byte, rev int64) (*mvccpb.KeyValue, error) {
	if f.store == nil {
		return nil, nodeerr.ErrUnimplemented
	}
	return f.store.PrevKV(key, rev)
}

func (f *fakeBackend) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if err := f.record(ctx, "LeaseGrant"); err != nil {
		return nil, err
	}
	return &pb.LeaseGrantResponse{Header: hdr(), ID: 42, TTL: r.TTL}, nil
}

func (f *fakeBackend) LeaseRevoke(ctx context.Context, _ *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	if err := f.record(ctx, "LeaseRevoke"); err != nil {
		return nil, err
	}
	return &pb.LeaseRevokeResponse{Header: hdr()}, nil
}

// LeaseRenew knows lease 42 only.
func (f *fakeBackend) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	if err := f.record(ctx, "LeaseRenew"); err != nil {
		return 0, err
	}
	if id != 42 {
		return 0, nodeerr.ErrLeaseNotFound
	}
	return 10, nil
}

func (f *fakeBackend) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if err := f.record(ctx, "LeaseTimeToLive"); err != nil {
		return nil, err
	}
	return &pb.LeaseTimeToLiveResponse{Header: hdr(), ID: r.ID, TTL: 9, GrantedTTL: 10}, nil
}

func (f *fakeBackend) LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error) {
	if err := f.record(ctx, "LeaseLeases"); err != nil {
		return nil, err
	}
	return &pb.LeaseLeasesResponse{Header: hdr(), Leases: []*pb.LeaseStatus{{ID: 42}}}, nil
}

// fakeSnapshotState is what the fake's Snapshot serialises (node/kv's
// snapshot format without a backend: snapfile makes an empty database):
// big enough to take several stream chunks.
var fakeSnapshotState = func() []byte {
	b, err := proto.Marshal(&statepb.Snapshot{ClusterId: 7, Members: []*statepb.Member{{Id: 1, Name: strings.Repeat("kuberaft", 20000)}}})
	if err != nil {
		panic(err)
	}
	return b
}()

func (f *fakeBackend) Snapshot(ctx context.Context, w io.Writer) (snapfile.Info, error) {
	if err := f.record(ctx, "Snapshot"); err != nil {
		return snapfile.Info{}, err
	}
	return snapfile.Write(w, snapfile.Info{AppliedIndex: 10, Revision: 5}, fakeSnapshotState)
}

func (f *fakeBackend) HashKV(ctx context.Context, rev int64) (mvcc.KeyValueHash, int64, error) {
	if err := f.record(ctx, "HashKV"); err != nil {
		return mvcc.KeyValueHash{}, 0, err
	}
	switch {
	case rev != 0 && rev < 3:
		return mvcc.KeyValueHash{}, 0, nodeerr.ErrCompacted
	case rev > 5:
		return mvcc.KeyValueHash{}, 0, nodeerr.ErrFutureRev
	}
	if rev == 0 {
		rev = 5
	}
	return mvcc.KeyValueHash{Hash: 0xfeed, CompactRevision: 3, Revision: rev}, 5, nil
}
