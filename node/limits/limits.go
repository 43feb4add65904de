// Package limits is the one definition of a node's request limits: the
// bounds the client-facing server checks every request against, and the
// proposal and peer-message sizes the raft driver derives from them. Every
// limit has a raftnode command-line flag; a zero field means its default.
package limits

import "fmt"

// Defaults are etcd's (embed.DefaultMaxRequestBytes, DefaultMaxTxnOps), so
// an etcd command line and etcd's docs hold for kuberaft.
const (
	DefaultMaxRequestBytes = 1536 * 1024
	DefaultMaxTxnOps       = 128
)

// MaxRequestBytesCeiling bounds MaxRequestBytes: a raft entry is sent whole
// to every follower and kept in memory until compacted, so a few of this
// size already strain a node (etcd warns above 10 MiB).
const MaxRequestBytesCeiling = 64 << 20

// Limits bounds what one client request may ask of a node.
type Limits struct {
	// MaxRequestBytes bounds a request's encoded size, and with it the size
	// of the raft entry it becomes (etcd's --max-request-bytes).
	MaxRequestBytes int
	// MaxTxnOps bounds the operations of one Txn branch (etcd's
	// --max-txn-ops).
	MaxTxnOps int
}

// Default returns etcd's defaults.
func Default() Limits {
	return Limits{MaxRequestBytes: DefaultMaxRequestBytes, MaxTxnOps: DefaultMaxTxnOps}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := Default()
	if l.MaxRequestBytes == 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxTxnOps == 0 {
		l.MaxTxnOps = d.MaxTxnOps
	}
	return l
}

// Validate refuses negative limits and requests above the ceiling; zero
// means the default.
func (l Limits) Validate() error {
	if l.MaxRequestBytes < 0 || l.MaxRequestBytes > MaxRequestBytesCeiling {
		return fmt.Errorf("limits: MaxRequestBytes %d: want 0..%d", l.MaxRequestBytes, MaxRequestBytesCeiling)
	}
	if l.MaxTxnOps < 0 {
		return fmt.Errorf("limits: MaxTxnOps %d must not be negative", l.MaxTxnOps)
	}
	return nil
}
