package raftnode

import (
	"math/rand/v2"
	"sync/atomic"
)

// requestIDs numbers this process's proposals. Apply answers waiters by
// request ID on every member, so IDs must not repeat across members.
// etcd's idutil.Generator (used before) keeps only 16 bits of the member
// ID plus the start time in ms: two members with equal low bits started
// in the same ms share a sequence. A random 64-bit start makes an overlap
// need two starts within the number of requests of each other (~2^-40).
type requestIDs struct{ next atomic.Uint64 }

func newRequestIDs() *requestIDs {
	g := &requestIDs{}
	g.next.Store(rand.Uint64())
	return g
}

// Next returns a fresh, non-zero ID (0 means "no request").
func (g *requestIDs) Next() uint64 {
	for {
		if id := g.next.Add(1); id != 0 {
			return id
		}
	}
}
