package kvmodel

import (
	"math"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// epoch is the zero of every Recorder's clock: one monotonic reading per
// process, so a zero Recorder is ready to use and porcupine only ever
// compares times of one history with each other.
var epoch = time.Now()

// Recorder is the concurrent operation log under a porcupine check, shared
// by this package's History and node/watchcheck's: it holds the rule for
// operations whose outcome the client never learned, once.
type Recorder struct {
	mu  sync.Mutex
	ops []porcupine.Operation
}

// Now is the recorder's clock (monotonic nanoseconds).
func (r *Recorder) Now() int64 { return int64(time.Since(epoch)) }

// Record adds one completed operation. A write whose outcome is unknown
// may take effect any time after its call, so it never returns (etcd's
// robustness tests do the same); a read whose outcome is unknown observed
// nothing and is dropped.
func (r *Recorder) Record(client int, in, out any, read, unknown bool, call, ret int64) {
	if unknown && read {
		return
	}
	if unknown {
		ret = math.MaxInt64
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// Operations returns a copy of what was recorded.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Len is the number of recorded operations.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Rewrite keeps the operations for which keep returns true; keep may
// change the operation it is given (to decide an unknown outcome).
func (r *Recorder) Rewrite(keep func(op *porcupine.Operation) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.ops[:0]
	for _, op := range r.ops {
		if keep(&op) {
			kept = append(kept, op)
		}
	}
	r.ops = kept
}
