// Package watchcheck checks recorded etcd watch streams, and the KV history
// that produced them, the way etcd's robustness suite does
// (tests/robustness/validate/watch.go and its linearizability model):
//
//   - Check: every watcher's stream is ordered, has no duplicate, and is
//     complete from its start revision to the last revision of the run
//     (no gap), each event agrees with every other watcher's copy of that
//     revision and with the acknowledged write the clients recorded, and
//     prev_kv, version and create_revision follow from the previous event
//     of the same key.
//   - KVModel and History: a porcupine model of an etcd KV with revisions
//     (put, delete, linearizable get, each returning the header revision),
//     so a history of client operations is checked including revisions.
//
// The package is pure (no I/O); node/proctest records the streams and the
// history against real processes and calls it.
package watchcheck
