// Package kv is the node's replicated state machine: an etcd-v3-like key
// space (value, create_revision, mod_revision, version per key and one
// store-wide revision), the at-most-once session table, and the cluster's
// member metadata. Every replica applies the same commands in log order and
// reaches the same state, so everything here is deterministic and pure (no
// clocks, no randomness, no I/O); Snapshot and Restore move the whole state.
//
// Only the current revision is kept (no MVCC history): a Range at an older
// revision returns nodeerr.ErrCompacted, at a newer one ErrFutureRev.
//
// The store checks only what depends on its state (revisions, counters,
// membership). A request's shape (keys present, op counts, leases, keys
// written twice in a txn) is checked once, before it is proposed, by the
// node's server (node/server validate.go), against node/limits.
//
// Concurrency: one goroutine applies (the raft driver); reads may run
// concurrently and see the state between two applied commands. Stored
// KeyValues are never mutated after insertion, so reads may share them.
package kv
