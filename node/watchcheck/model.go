package watchcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// Operation kinds of KVModel.
const (
	OpGet    = "get"
	OpPut    = "put"
	OpDelete = "delete"
)

// MaxKeys bounds the keys of one history: the model's state is a fixed
// array (comparable, so porcupine can cache visited states cheaply).
const MaxKeys = 16

// Input is one client operation on key slot Key (0 ≤ Key < MaxKeys).
type Input struct {
	Op    string
	Key   int
	Value string // put only
}

// Output is what the client saw. Rev is the response header's revision.
// Unknown marks a write whose outcome the client never learned.
type Output struct {
	Found   bool   // get: the key exists
	Value   string // get: its value
	ModRev  int64  // get: its mod_revision
	Deleted int64  // delete: number of keys deleted
	Rev     int64
	Unknown bool
}

type slot struct {
	exists bool
	value  string
	modRev int64
}

// state is the store at one revision.
type state struct {
	rev  int64
	keys [MaxKeys]slot
}

// KVModel is the porcupine specification of etcd's KV with revisions, as in
// etcd's robustness model: every put, and every delete that removes a key,
// takes the next revision; a linearizable get returns the current revision
// and the key's mod_revision. The global revision ties the keys together,
// so the history is not partitioned by key.
func KVModel(initialRev int64) porcupine.Model {
	return porcupine.Model{
		Init:              func() any { return state{rev: initialRev} },
		Step:              step,
		DescribeOperation: describeOp,
	}
}

func step(st, input, output any) (bool, any) {
	s, in, out := st.(state), input.(Input), output.(Output)
	k := &s.keys[in.Key]
	switch in.Op {
	case OpGet:
		return out.Rev == s.rev && out.Found == k.exists && (!k.exists || out.Value == k.value && out.ModRev == k.modRev), s
	case OpPut:
		s.rev++
		*k = slot{exists: true, value: in.Value, modRev: s.rev}
		return out.Unknown || out.Rev == s.rev, s
	case OpDelete:
		if !k.exists {
			return out.Unknown || out.Rev == s.rev && out.Deleted == 0, s
		}
		s.rev++
		*k = slot{}
		return out.Unknown || out.Rev == s.rev && out.Deleted == 1, s
	}
	return false, s
}

func describeOp(input, output any) string {
	in, out := input.(Input), output.(Output)
	res := fmt.Sprintf("rev %d", out.Rev)
	if out.Unknown {
		res = "unknown"
	}
	switch in.Op {
	case OpGet:
		return fmt.Sprintf("get(k%d) -> found=%v %q mod %d, %s", in.Key, out.Found, out.Value, out.ModRev, res)
	case OpPut:
		return fmt.Sprintf("put(k%d, %q) -> %s", in.Key, in.Value, res)
	}
	return fmt.Sprintf("delete(k%d) -> deleted %d, %s", in.Key, out.Deleted, res)
}

// History records concurrent clients' operations with a monotonic clock
// (kvmodel.Recorder: one home for the unknown-outcome rule).
type History struct{ kvmodel.Recorder }

// NewHistory returns an empty history.
func NewHistory() *History { return &History{} }

// Add records one operation. A write with an unknown outcome may take
// effect any time after its call (it never returns); a read with an
// unknown outcome observed nothing and is dropped.
func (h *History) Add(client int, in Input, out Output, call, ret int64) {
	h.Record(client, in, out, in.Op == OpGet, out.Unknown, call, ret)
}

// CheckLinearizable fails t unless porcupine proves the history
// linearizable from initialRev (the revision before the first operation).
// An undecided check (timeout) fails too: a proof that could not be made
// is not a proof; keep histories small enough to decide.
func (h *History) CheckLinearizable(t testing.TB, initialRev int64, timeout time.Duration) {
	t.Helper()
	ops := h.Operations()
	model := KVModel(initialRev)
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res == porcupine.Ok {
		t.Logf("porcupine: %d operations linearizable, revisions included", len(ops))
		return
	}
	// Not t.TempDir: the file must outlive the failed test.
	path := filepath.Join(os.TempDir(), fmt.Sprintf("porcupine-rev-%d.html", time.Now().UnixNano()))
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		t.Logf("porcupine visualization failed: %v", err)
	}
	t.Fatalf("porcupine: history of %d operations is %v (not proven linearizable within %v); visualization: %s", len(ops), res, timeout, path)
}

// ResolveUnknownPuts decides every put whose outcome its client never
// learned, from a complete watch stream, as etcd's robustness suite patches
// its history. revOf reports the revision at which the put's (unique) value
// appeared in the stream. A put that appeared took that revision; one that
// did not appear up to the stream's end either never took effect or took
// effect after every recorded operation, and in both cases dropping it
// changes no verdict. Why bother: an undecided write may be placed anywhere
// after its call and shifts every later revision, which makes porcupine's
// search explode after a few faults; a decided one pins its revision.
func (h *History) ResolveUnknownPuts(revOf func(in Input) (int64, bool)) (resolved, dropped int) {
	h.Rewrite(func(op *porcupine.Operation) bool {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Op != OpPut || !out.Unknown {
			return true
		}
		rev, ok := revOf(in)
		if !ok {
			dropped++
			return false
		}
		op.Output = Output{Rev: rev}
		resolved++
		return true
	})
	return resolved, dropped
}
