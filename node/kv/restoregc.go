package kv

import (
	"runtime/debug"
	"sync"
)

// restoreGCPercent is the garbage collector's target (GOGC) while a key
// space is loaded into memory: opening the store at start, and installing
// a key space received from the leader.
//
// Why: etcd's mvcc restore decodes every revision in the file, values
// included, to rebuild its in-memory index. The decoded values are garbage
// at once; the index, the only thing kept, grows from nothing. At the
// default target (100) the collector runs each time the heap doubles from
// that small live heap, again and again, each time marking the index built
// so far, and its write barriers slow the index builder, the restore's
// critical path. At 400, BenchmarkOpenLoadedStore (250 000 keys of 1 KiB)
// opens the store in ~770 ms instead of ~890 ms (docs/benchmarks.md).
//
// The cost is transient: the heap may reach about 5× the index during the
// restore instead of 2×, and the runtime still honours a GOMEMLIMIT. The
// target goes back to what it was as soon as the restore ends.
const restoreGCPercent = 400

// restoreGC counts the restores in progress: tests run many stores in one
// process, and the first to start must not be undone by another's end.
var restoreGC struct {
	mu      sync.Mutex
	running int
	prev    int // the target before the first running restore
}

// relaxGCForRestore raises the collector's target for one restore and
// returns the function that ends it. A target already higher (or off,
// GOGC=off) is left alone.
func relaxGCForRestore() (done func()) {
	restoreGC.mu.Lock()
	defer restoreGC.mu.Unlock()
	if restoreGC.running == 0 {
		restoreGC.prev = debug.SetGCPercent(restoreGCPercent)
		if restoreGC.prev < 0 || restoreGC.prev > restoreGCPercent {
			debug.SetGCPercent(restoreGC.prev)
		}
	}
	restoreGC.running++
	var once sync.Once
	return func() {
		once.Do(func() {
			restoreGC.mu.Lock()
			defer restoreGC.mu.Unlock()
			restoreGC.running--
			if restoreGC.running == 0 {
				debug.SetGCPercent(restoreGC.prev)
			}
		})
	}
}
