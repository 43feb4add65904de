package kv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/limits"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func mustPut(t *testing.T, s *Store, k, v string) *pb.PutResponse {
	t.Helper()
	resp, err := s.Put(&pb.PutRequest{Key: []byte(k), Value: []byte(v), PrevKv: true})
	if err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
	return resp
}

func TestPutRevisionsAndVersions(t *testing.T) {
	s := newStore(t)
	if got := mustPut(t, s, "a", "1").Header.Revision; got != 2 {
		t.Fatalf("first put revision = %d, want 2", got)
	}
	mustPut(t, s, "b", "x")
	resp := mustPut(t, s, "a", "2")
	if resp.PrevKv == nil || string(resp.PrevKv.Value) != "1" {
		t.Fatalf("prev_kv = %v, want value 1", resp.PrevKv)
	}
	got, err := s.Range(&pb.RangeRequest{Key: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	kv := got.Kvs[0]
	if kv.CreateRevision != 2 || kv.ModRevision != 4 || kv.Version != 2 || string(kv.Value) != "2" {
		t.Fatalf("a = %v, want create 2 mod 4 version 2 value 2", kv)
	}
	if got.Header.Revision != 4 {
		t.Fatalf("header revision %d, want 4", got.Header.Revision)
	}
}

func TestRange(t *testing.T) {
	s := newStore(t)
	for _, k := range []string{"a", "b", "ba", "bb", "c"} {
		mustPut(t, s, k, "v"+k)
	}
	cases := []struct {
		name      string
		req       *pb.RangeRequest
		keys      []string
		count     int64
		more      bool
		err       error
		wantValue bool
	}{
		{name: "single", req: &pb.RangeRequest{Key: []byte("b")}, keys: []string{"b"}, count: 1, wantValue: true},
		{name: "missing", req: &pb.RangeRequest{Key: []byte("zz")}, count: 0},
		{name: "prefix", req: &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte("c")}, keys: []string{"b", "ba", "bb"}, count: 3, wantValue: true},
		{name: "from key", req: &pb.RangeRequest{Key: []byte("bb"), RangeEnd: []byte{0}}, keys: []string{"bb", "c"}, count: 2, wantValue: true},
		{name: "all", req: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, keys: []string{"a", "b", "ba", "bb", "c"}, count: 5, wantValue: true},
		{name: "limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 2}, keys: []string{"a", "b"}, count: 5, more: true, wantValue: true},
		{name: "keys only", req: &pb.RangeRequest{Key: []byte("a"), KeysOnly: true}, keys: []string{"a"}, count: 1},
		{name: "count only", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, CountOnly: true}, count: 5},
		{name: "descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_DESCEND, Limit: 2}, keys: []string{"c", "bb"}, count: 5, more: true, wantValue: true},
		{name: "current revision", req: &pb.RangeRequest{Key: []byte("a"), Revision: 6}, keys: []string{"a"}, count: 1, wantValue: true},
		{name: "past revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 3}, keys: []string{"a", "b"}, count: 2, wantValue: true},
		{name: "compacted", req: &pb.RangeRequest{Key: []byte("a"), Revision: 1}, err: nodeerr.ErrCompacted},
		{name: "future", req: &pb.RangeRequest{Key: []byte("a"), Revision: 7}, err: nodeerr.ErrFutureRev},
		{name: "empty key", req: &pb.RangeRequest{}, err: nodeerr.ErrEmptyKey},
		// etcd counts the range before the revision filters.
		{name: "min mod", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinModRevision: 5}, keys: []string{"bb", "c"}, count: 5, wantValue: true},
	}
	if _, err := s.Compact(&pb.CompactionRequest{Revision: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Range(tc.req)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if resp.Count != tc.count || resp.More != tc.more || len(resp.Kvs) != len(tc.keys) {
				t.Fatalf("count %d more %v kvs %d, want %d %v %d", resp.Count, resp.More, len(resp.Kvs), tc.count, tc.more, len(tc.keys))
			}
			for i, k := range tc.keys {
				if string(resp.Kvs[i].Key) != k {
					t.Fatalf("kvs[%d] = %q, want %q", i, resp.Kvs[i].Key, k)
				}
				if (len(resp.Kvs[i].Value) > 0) != tc.wantValue {
					t.Fatalf("kvs[%d] value %q, want value present=%v", i, resp.Kvs[i].Value, tc.wantValue)
				}
			}
		})
	}
}

func TestDeleteRange(t *testing.T) {
	s := newStore(t)
	for _, k := range []string{"a", "b", "c"} {
		mustPut(t, s, k, k)
	}
	resp, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Deleted != 2 || len(resp.PrevKvs) != 2 || resp.Header.Revision != 5 {
		t.Fatalf("delete = %v, want 2 deleted at revision 5", resp)
	}
	// Deleting nothing does not bump the revision.
	resp, err = s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("zz")})
	if err != nil || resp.Deleted != 0 || resp.Header.Revision != 5 {
		t.Fatalf("empty delete = %v, %v; want 0 at revision 5", resp, err)
	}
	if s.Len() != 1 {
		t.Fatalf("len %d, want 1", s.Len())
	}
}

func cmpOp(key string, target pb.Compare_CompareTarget, result pb.Compare_CompareResult, v int64, value string) *pb.Compare {
	c := &pb.Compare{Key: []byte(key), Target: target, Result: result}
	switch target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: v}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: v}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: v}
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: []byte(value)}
	}
	return c
}

func putOp(k, v string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
}

func TestTxnCompares(t *testing.T) {
	cases := []struct {
		name string
		cmp  *pb.Compare
		want bool
	}{
		{"value equal", cmpOp("a", pb.Compare_VALUE, pb.Compare_EQUAL, 0, "1"), true},
		{"value not equal", cmpOp("a", pb.Compare_VALUE, pb.Compare_NOT_EQUAL, 0, "1"), false},
		{"value greater", cmpOp("a", pb.Compare_VALUE, pb.Compare_GREATER, 0, "0"), true},
		{"value on missing key fails", cmpOp("zz", pb.Compare_VALUE, pb.Compare_NOT_EQUAL, 0, "x"), false},
		{"version equal", cmpOp("a", pb.Compare_VERSION, pb.Compare_EQUAL, 1, ""), true},
		{"missing key version 0", cmpOp("zz", pb.Compare_VERSION, pb.Compare_EQUAL, 0, ""), true},
		{"create less", cmpOp("a", pb.Compare_CREATE, pb.Compare_LESS, 3, ""), true},
		{"mod equal", cmpOp("a", pb.Compare_MOD, pb.Compare_EQUAL, 2, ""), true},
		{"mod greater", cmpOp("a", pb.Compare_MOD, pb.Compare_GREATER, 2, ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			mustPut(t, s, "a", "1")
			resp, err := s.Txn(&pb.TxnRequest{Compare: []*pb.Compare{tc.cmp}, Success: []*pb.RequestOp{putOp("ok", "y")}, Failure: []*pb.RequestOp{putOp("ko", "n")}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Succeeded != tc.want {
				t.Fatalf("succeeded = %v, want %v", resp.Succeeded, tc.want)
			}
			if resp.Header.Revision != 3 {
				t.Fatalf("revision %d, want 3 (one per txn)", resp.Header.Revision)
			}
		})
	}
}

func TestTxnNestedAndReads(t *testing.T) {
	s := newStore(t)
	inner := &pb.TxnRequest{Success: []*pb.RequestOp{putOp("n", "1")}}
	resp, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		putOp("a", "1"), putOp("b", "2"),
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}}},
		{Request: &pb.RequestOp_RequestTxn{RequestTxn: inner}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Responses[2].GetResponseRange(); r.Count != 2 {
		t.Fatalf("range inside txn saw %d keys, want its own 2 writes", r.Count)
	}
	if resp.Header.Revision != 2 || s.Len() != 3 {
		t.Fatalf("revision %d keys %d, want 2 and 3", resp.Header.Revision, s.Len())
	}
}

func TestTxnBadInputWritesNothing(t *testing.T) {
	cases := []struct {
		name string
		req  *pb.TxnRequest
		err  error
	}{
		{"duplicate put", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "1"), putOp("a", "2")}}, nodeerr.ErrDuplicateKey},
		{"put in deleted range", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("b", "1"), {Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}}}}, nodeerr.ErrDuplicateKey},
		{"empty key", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("x", "1"), putOp("", "2")}}, nodeerr.ErrEmptyKey},
		{"future range", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("x", "1"), {Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 99}}}}}, nodeerr.ErrFutureRev},
		{"lease", &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("x"), Lease: 5}}}}}, nodeerr.ErrLeaseNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.Txn(tc.req); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if s.Len() != 0 || s.Revision() != 1 {
				t.Fatalf("bad txn wrote: len %d revision %d", s.Len(), s.Revision())
			}
		})
	}
}

// TestTxnAboveTheDefaultOpBoundApplies: the op bound is the server's,
// configurable with --max-txn-ops; the store must apply what the server
// accepted (it used to refuse anything above the default 128 at apply).
func TestTxnAboveTheDefaultOpBoundApplies(t *testing.T) {
	many := make([]*pb.RequestOp, limits.DefaultMaxTxnOps+1)
	for i := range many {
		many[i] = putOp(string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
	}
	s := newStore(t)
	if _, err := s.Txn(&pb.TxnRequest{Success: many}); err != nil {
		t.Fatalf("txn of %d ops: %v", len(many), err)
	}
	if s.Len() != len(many) {
		t.Fatalf("%d keys, want %d", s.Len(), len(many))
	}
}

func TestAppendAndIncrement(t *testing.T) {
	s := newStore(t)
	a, err := s.Append(&statepb.AppendOp{Key: []byte("k"), Suffix: []byte("x")})
	if err != nil || string(a.Value) != "x" {
		t.Fatalf("append = %v, %v", a, err)
	}
	a, _ = s.Append(&statepb.AppendOp{Key: []byte("k"), Suffix: []byte("y")})
	if string(a.Value) != "xy" || a.Revision != 3 {
		t.Fatalf("append = %v, want xy at 3", a)
	}
	i, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("c"), Delta: 5})
	if err != nil || i.Value != 5 {
		t.Fatalf("increment = %v, %v", i, err)
	}
	i, _ = s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("c"), Delta: -7})
	if i.Value != -2 {
		t.Fatalf("increment = %d, want -2", i.Value)
	}
	if _, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("k"), Delta: 1}); !errors.Is(err, nodeerr.ErrNotCounter) {
		t.Fatalf("increment of xy: %v, want ErrNotCounter", err)
	}
	if _, err := s.Append(&statepb.AppendOp{}); !errors.Is(err, nodeerr.ErrEmptyKey) {
		t.Fatalf("append empty key: %v", err)
	}
}

func appendCmd(client string, seq uint64, key, suffix string) *statepb.Command {
	return &statepb.Command{ClientId: client, Seq: seq, Op: &statepb.Command_Append{Append: &statepb.AppendOp{Key: []byte(key), Suffix: []byte(suffix)}}}
}

func TestApplyAtMostOnce(t *testing.T) {
	s := newStore(t)
	first := s.Apply(appendCmd("c1", 1, "k", "a"))
	again := s.Apply(appendCmd("c1", 1, "k", "a"))
	if first.Err != nil || again.Err != nil {
		t.Fatal(first.Err, again.Err)
	}
	if !proto.Equal(first.Resp, again.Resp) {
		t.Fatalf("duplicate answered %v, first %v", again.Resp, first.Resp)
	}
	s.Apply(appendCmd("c1", 2, "k", "b"))
	if r := s.Apply(appendCmd("c1", 1, "k", "a")); !errors.Is(r.Err, ErrStaleSequence) {
		t.Fatalf("stale seq: %v", r.Err)
	}
	s.Apply(appendCmd("", 0, "k", "c")) // no identity: always applied
	s.Apply(appendCmd("", 0, "k", "c"))
	got, _ := s.Range(&pb.RangeRequest{Key: []byte("k")})
	if string(got.Kvs[0].Value) != "abcc" {
		t.Fatalf("value %q, want abcc", got.Kvs[0].Value)
	}
	// The session table survives a snapshot: a retry after restore is
	// still answered from it.
	r := restoredCopy(t, s)
	dup := r.Apply(appendCmd("c1", 2, "k", "b"))
	if v := string(dup.Resp.(*nodepb.AppendResponse).Value); v != "ab" || r.Revision() != s.Revision() {
		t.Fatalf("restored duplicate = %q rev %d, want ab rev %d", v, r.Revision(), s.Revision())
	}
	errRes := s.Apply(&statepb.Command{ClientId: "c2", Seq: 1, Op: &statepb.Command_Increment{Increment: &statepb.IncrementOp{Key: []byte("k"), Delta: 1}}})
	dupErr := s.Apply(&statepb.Command{ClientId: "c2", Seq: 1, Op: &statepb.Command_Increment{Increment: &statepb.IncrementOp{Key: []byte("k"), Delta: 1}}})
	if !errors.Is(errRes.Err, nodeerr.ErrNotCounter) || !errors.Is(dupErr.Err, nodeerr.ErrNotCounter) {
		t.Fatalf("recorded error: %v then %v", errRes.Err, dupErr.Err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "a", "1")
	mustPut(t, s, "b", "2")
	s.SetClusterID(7)
	if err := s.ApplyConfChange(addNode(1, false), []*statepb.Member{{Id: 1, Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	r := restoredCopy(t, s)
	if !sameState(t, s, r) {
		t.Fatal("restored store differs")
	}
	if r.ClusterID() != 7 || len(r.Members()) != 1 || r.Len() != 2 {
		t.Fatalf("restored cluster %d members %d keys %d", r.ClusterID(), len(r.Members()), r.Len())
	}
	if err := r.Restore([]byte("garbage\xff")); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}

func addNode(id uint64, learner bool) *raftpb.ConfChangeV2 {
	typ := raftpb.ConfChangeType_ConfChangeAddNode
	if learner {
		typ = raftpb.ConfChangeType_ConfChangeAddLearnerNode
	}
	return &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: &typ, NodeId: &id}}}
}

func removeNode(id uint64) *raftpb.ConfChangeV2 {
	typ := raftpb.ConfChangeType_ConfChangeRemoveNode
	return &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: &typ, NodeId: &id}}}
}

func TestMembership(t *testing.T) {
	s := newStore(t)
	steps := []struct {
		name string
		cc   *raftpb.ConfChangeV2
		add  []*statepb.Member
		err  error
	}{
		{"add voter", addNode(1, false), []*statepb.Member{{Id: 1, Name: "a"}}, nil},
		{"add learner", addNode(2, true), []*statepb.Member{{Id: 2, Name: "b"}}, nil},
		{"new member without metadata", addNode(3, true), nil, nodeerr.ErrInvalidChange},
		{"promote", addNode(2, false), nil, nil},
		{"demote", addNode(2, true), nil, nil},
		{"remove", removeNode(2), nil, nil},
		{"remove unknown", removeNode(9), nil, nodeerr.ErrMemberNotFound},
		{"reuse removed id", addNode(2, true), []*statepb.Member{{Id: 2, Name: "b"}}, nodeerr.ErrIDRemoved},
	}
	for _, st := range steps {
		if err := s.ApplyConfChange(st.cc, st.add); !errors.Is(err, st.err) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.err)
		}
		switch st.name {
		case "promote":
			if m, _ := s.Member(2); m.IsLearner {
				t.Fatal("promote left a learner")
			}
		case "demote":
			if m, _ := s.Member(2); !m.IsLearner {
				t.Fatal("demote left a voter")
			}
		}
	}
	if err := s.Publish(&statepb.Member{Id: 1, Name: "a2", ClientUrls: []string{"http://c:1"}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Member(1); m.Name != "a2" || len(m.ClientUrls) != 1 || !m.Started {
		t.Fatalf("published member %v", m)
	}
	if err := s.Publish(&statepb.Member{Id: 5}); !errors.Is(err, nodeerr.ErrMemberNotFound) {
		t.Fatalf("publish of unknown member: %v", err)
	}
	if ms := s.Members(); len(ms) != 1 || ms[0].Id != 1 || !s.IsRemoved(2) {
		t.Fatalf("members %v removed %v", ms, s.Removed())
	}
	// A removed member's address is kept (and survives a snapshot): it may
	// still be an outgoing voter of a joint configuration.
	r := restoredCopy(t, s)
	if m, ok := r.RemovedMember(2); !ok || m.Name != "b" {
		t.Fatalf("removed member metadata %v, %v", m, ok)
	}
}

// TestRangeMatchesSortedReference checks range scans over many keys, put
// and deleted in random order, against a sorted reference.
func TestRangeMatchesSortedReference(t *testing.T) {
	s := newStore(t)
	ref := map[string]bool{}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := fmt.Sprintf("k%05d", rnd.IntN(10000))
		if i%3 == 0 {
			if _, err := s.DeleteRange(&pb.DeleteRangeRequest{Key: []byte(k)}); err != nil {
				t.Fatal(err)
			}
			delete(ref, k)
			continue
		}
		mustPut(t, s, k, "v")
		ref[k] = true
	}
	keys := make([]string, 0, len(ref))
	for k := range ref {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if s.Len() != len(keys) {
		t.Fatalf("len %d, want %d", s.Len(), len(keys))
	}
	for _, r := range [][2]string{{"k02000", "k03000"}, {"k09990", "\x00"}, {"a", "z"}, {"k05000", "k05000"}} {
		resp, err := s.Range(&pb.RangeRequest{Key: []byte(r[0]), RangeEnd: []byte(r[1]), KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, k := range keys {
			if k >= r[0] && (r[1] == "\x00" || k < r[1]) {
				want = append(want, k)
			}
		}
		if len(resp.Kvs) != len(want) {
			t.Fatalf("range %q: %d keys, want %d", r, len(resp.Kvs), len(want))
		}
		for i, kv := range resp.Kvs {
			if string(kv.Key) != want[i] {
				t.Fatalf("range %q: key %d = %q, want %q", r, i, kv.Key, want[i])
			}
		}
	}
}

func BenchmarkPutNewKeys(b *testing.B) {
	s := newStore(b)
	for i := 0; b.Loop(); i++ {
		if _, err := s.Put(&pb.PutRequest{Key: []byte(fmt.Sprintf("key-%09d", i)), Value: []byte("v")}); err != nil {
			b.Fatal(err)
		}
	}
}

// Issue 8 item 16: no silent wrap-around, no value past the request limit,
// and etcd's own errors for leases this store does not hold.
func TestWriteLimitsAndLeaseErrors(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "k", "v")
	mustPut(t, s, "max", "9223372036854775806")
	mustPut(t, s, "min", "-9223372036854775807")
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"increment to MaxInt64", func() error {
			_, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("max"), Delta: 1})
			return err
		}, nil},
		{"increment past MaxInt64", func() error {
			_, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("max"), Delta: 1})
			return err
		}, nodeerr.ErrCounterOverflow},
		{"decrement to MinInt64", func() error {
			_, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("min"), Delta: -1})
			return err
		}, nil},
		{"decrement past MinInt64", func() error {
			_, err := s.IncrementAndGet(&nodepb.IncrementRequest{Key: []byte("min"), Delta: -1})
			return err
		}, nodeerr.ErrCounterOverflow},
		{"append up to the limit", func() error {
			_, err := s.Append(&statepb.AppendOp{Key: []byte("a"), Suffix: []byte("12345"), MaxValueBytes: 8})
			return err
		}, nil},
		{"append past the limit", func() error {
			_, err := s.Append(&statepb.AppendOp{Key: []byte("a"), Suffix: []byte("6789"), MaxValueBytes: 8})
			return err
		}, nodeerr.ErrValueTooLarge},
		{"put with unknown lease", func() error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 42})
			return err
		}, nodeerr.ErrLeaseNotFound},
		{"txn put with unknown lease", func() error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Lease: 42}}}}})
			return err
		}, nodeerr.ErrLeaseNotFound},
		{"ignore_value with a value", func() error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true})
			return err
		}, nodeerr.ErrValueProvided},
		{"ignore_lease with a lease", func() error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), Lease: 1, IgnoreLease: true})
			return err
		}, nodeerr.ErrLeaseProvided},
		{"ignore_value on a missing key", func() error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("absent"), IgnoreValue: true})
			return err
		}, nodeerr.ErrKeyNotFound},
		{"txn ignore_lease on a missing key", func() error {
			_, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("absent"), IgnoreLease: true}}}}})
			return err
		}, nodeerr.ErrKeyNotFound},
		{"ignore_value keeps the value", func() error {
			_, err := s.Put(&pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true})
			return err
		}, nil},
	}
	for _, tc := range cases {
		rev := s.Revision()
		err := tc.do()
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if tc.want != nil && s.Revision() != rev {
			t.Fatalf("%s: refused but the revision moved", tc.name)
		}
	}
	if v := counter(t, s, "k"); v != "v" {
		t.Fatalf("ignore_value rewrote the value to %q", v)
	}
	if v := counter(t, s, "a"); v != "12345" {
		t.Fatalf("refused append changed the value to %q", v)
	}
}
