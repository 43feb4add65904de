// Package kvmodel is the porcupine model of kuberaft's linearizable KV
// (Get, Put, Append per key) and a concurrent History checked against it.
// It is shared by the in-process harness (node/nodetest), the multi-process
// tests (node/proctest), the e2e checks (test/e2e/e2echeck) and, for its
// Recorder, node/watchcheck; none of them needs the others to check a
// history.
package kvmodel

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
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
type History struct{ Recorder }

// NewHistory returns an empty history.
func NewHistory() *History { return &History{} }

// Add records one completed operation. A write with an unknown outcome
// must be added with out.Unknown set (see Recorder.Record).
func (h *History) Add(client int, in Input, out Output, call, ret int64) {
	h.Record(client, in, out, in.Op == OpGet, out.Unknown, call, ret)
}

// CheckLinearizable fails t if the history is not linearizable, writing a
// porcupine visualization to a file named in the failure. A check that
// times out is logged, not failed (porcupine could not decide).
func (h *History) CheckLinearizable(t testing.TB, timeout time.Duration) {
	t.Helper()
	ops := h.Operations()
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
