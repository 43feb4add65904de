// Package kv is the node's replicated state machine: an etcd v3 key space
// (etcd's own storage/mvcc over storage/backend and the lessor, used as
// libraries; see engine.go for why and how), the at-most-once session
// table, the NOSPACE alarms and the cluster's member metadata. Every
// replica applies the same commands in log order and reaches the same
// state, so everything decided here depends only on the applied log (no
// clocks, no randomness); Snapshot and Restore move the whole state, the
// key space as a copy of the bbolt file.
//
// Revisions are etcd's: every write gets the next store revision, keys
// carry create_revision, mod_revision and version, a Range may read any
// revision since the last compaction (older: nodeerr.ErrCompacted; newer:
// nodeerr.ErrFutureRev), and watches replay history from a start revision.
//
// Concurrency: one goroutine applies (the raft driver); reads, watches and
// snapshots may run concurrently and see the state between two applied
// commands.
package kv
