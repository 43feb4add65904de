// Package kvmodel is the porcupine model of kuberaft's linearizable KV
// (Get, Put, Append per key) and a concurrent History checked against it.
// It is shared by the in-process harness (node/nodetest), the multi-process
// tests (node/proctest) and the e2e checks (test/e2e/e2echeck), none of
// which needs the others to check a history.
package kvmodel

import (
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Operation kinds of the model.
const (
	OpGet    = "get"
	OpPut    = "put"
	OpAppend = "append"
)

// Input is one client operation on one key.
type Input struct {
	Op    string
	Key   string
	Value string // put: the value; append: the suffix
}

// Output is what the operation returned: Value is the value read (get)
// or the new value (append). Unknown marks a write whose outcome the
// client never learned (it timed out): it may or may not have happened.
type Output struct {
	Value   string
	Unknown bool
}

// Model is the porcupine specification of a linearizable KV store with
// Get, Put and Append, partitioned by key (each key is an independent
// register, which keeps checking fast).
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(Input).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(Input), output.(Output)
		switch in.Op {
		case OpGet:
			return out.Value == s, s
		case OpPut:
			return true, in.Value
		case OpAppend:
			next := s + in.Value
			return out.Unknown || out.Value == next, next
		}
		return false, s
	},
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		res := fmt.Sprintf("%q", out.Value)
		if out.Unknown {
			res = "unknown"
		}
		switch in.Op {
		case OpGet:
			return fmt.Sprintf("get(%q) -> %s", in.Key, res)
		case OpPut:
			return fmt.Sprintf("put(%q, %q)", in.Key, in.Value)
		}
		return fmt.Sprintf("append(%q, %q) -> %s", in.Key, in.Value, res)
	},
}

// History records the operations of concurrent clients, with a monotonic
// clock, for a porcupine check.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock (monotonic nanoseconds).
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records one completed operation. A write with an unknown outcome
// must be added with out.Unknown set; it then may take effect any time
// after call (etcd's robustness tests do the same). A read whose outcome is
// unknown observed nothing and is dropped.
func (h *History) Add(client int, in Input, out Output, call, ret int64) {
	if out.Unknown && in.Op == OpGet {
		return
	}
	if out.Unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// Operations returns a copy of what was recorded.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Len is the number of recorded operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// CheckLinearizable fails t if the history is not linearizable, writing a
// porcupine visualization to a file named in the failure. A check that
// times out is logged, not failed (porcupine could not decide).
func (h *History) CheckLinearizable(t testing.TB, timeout time.Duration) {
	t.Helper()
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	switch res {
	case porcupine.Ok:
		t.Logf("porcupine: %d operations linearizable", len(ops))
	case porcupine.Unknown:
		t.Logf("porcupine: check of %d operations timed out after %v (undecided)", len(ops), timeout)
	default:
		// Not t.TempDir: the file must outlive the failed test.
		path := filepath.Join(os.TempDir(), fmt.Sprintf("porcupine-%s-%d.html", sanitize(t.Name()), time.Now().UnixNano()))
		if err := porcupine.VisualizePath(Model, info, path); err != nil {
			t.Logf("porcupine visualization failed: %v", err)
		}
		t.Fatalf("history of %d operations is not linearizable; visualization: %s", len(ops), path)
	}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
