package e2echeck

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// OpKind is what a client did.
type OpKind int

const (
	// OpPut writes Value at Key.
	OpPut OpKind = iota
	// OpGet reads Key (a linearizable read).
	OpGet
)

// KVInput is a porcupine operation input.
type KVInput struct {
	Kind  OpKind
	Key   string
	Value string // for OpPut
}

// KVOutput is a porcupine operation output. Unknown marks an operation whose
// outcome the client never learned (timeout, connection lost): it may or may
// not have taken effect, at any time after its call.
type KVOutput struct {
	Value   string // for OpGet; "" when the key is absent
	Unknown bool
}

// KVModel is a single-register-per-key model, partitioned by key so the
// checker's cost grows with the number of keys, not their product.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(KVInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in, out := input.(KVInput), output.(KVOutput)
		switch in.Kind {
		case OpPut:
			return true, in.Value
		default:
			// A get with an unknown outcome says nothing; one that
			// returned must have read the current value.
			return out.Unknown || out.Value == state.(string), state
		}
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(KVInput), output.(KVOutput)
		if in.Kind == OpPut {
			return fmt.Sprintf("put(%s, %s)%s", in.Key, in.Value, unknownMark(out))
		}
		return fmt.Sprintf("get(%s) -> %q%s", in.Key, out.Value, unknownMark(out))
	},
}

func unknownMark(out KVOutput) string {
	if out.Unknown {
		return " ?"
	}
	return ""
}

// History records client operations from many goroutines. Times are
// nanoseconds since the recorder was created (monotonic clock).
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory starts an empty history.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the timestamp to pass as an operation's call or return time.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records one finished operation. A put whose outcome is unknown stays
// open forever (return = +inf): it may take effect at any later point.
func (h *History) Add(client int, in KVInput, call int64, out KVOutput, ret int64) {
	if out.Unknown && in.Kind == OpGet {
		return // a read that never returned constrains nothing
	}
	if out.Unknown {
		ret = math.MaxInt64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// Operations returns a copy of what was recorded.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Linearizability is the verdict on a history.
type Linearizability struct {
	Result  porcupine.CheckResult
	Ops     int // operations checked
	Elapsed time.Duration
}

// CheckLinearizable runs porcupine over ops with a time limit; on Illegal and
// a non-empty vizPath it writes porcupine's HTML visualisation there.
func CheckLinearizable(ops []porcupine.Operation, timeout time.Duration, vizPath string) (Linearizability, error) {
	begin := time.Now()
	res, info := porcupine.CheckOperationsVerbose(KVModel, ops, timeout)
	v := Linearizability{Result: res, Ops: len(ops), Elapsed: time.Since(begin)}
	if res == porcupine.Illegal && vizPath != "" {
		if err := porcupine.VisualizePath(KVModel, info, vizPath); err != nil {
			return v, fmt.Errorf("write porcupine visualisation: %w", err)
		}
	}
	return v, nil
}
