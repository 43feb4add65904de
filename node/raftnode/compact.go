package raftnode

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
)

// Compact implements etcd's KV.Compact: the compaction is replicated, so
// every member drops the same history; with req.Physical it returns only
// once this member removed the old revisions from its backend (etcd's
// semantics).
func (n *Node) Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("raftnode: marshal compaction: %w", err)
	}
	// Compacting twice to the same revision fails the second time with
	// ErrCompacted, as in etcd; no client identity is needed.
	resp, err := n.propose(clientseq.With(ctx, clientseq.Ident{}), &statepb.Command{Op: &statepb.Command_Compaction{Compaction: data}})
	if err != nil {
		return nil, err
	}
	cr, ok := resp.(*pb.CompactionResponse)
	if !ok {
		return nil, fmt.Errorf("raftnode: compaction applied with a %T result", resp)
	}
	if req.Physical {
		select {
		case <-n.kv.CompactionDone():
		case <-ctx.Done():
			return nil, n.ctxError(ctx)
		}
	}
	cr.Header = n.header(cr.Header)
	return cr, nil
}

// Defragment implements etcd's Maintenance.Defragment for this member
// only (it is not replicated, as in etcd).
func (n *Node) Defragment(context.Context) error { return n.kv.Defragment() }

// CompactRevision is the revision of the last compaction this member
// applied (0: none).
func (n *Node) CompactRevision() int64 { return n.kv.CompactRevision() }

// CompactionDone is closed once this member's latest applied compaction
// removed the old revisions from its backend.
func (n *Node) CompactionDone() <-chan struct{} { return n.kv.CompactionDone() }

// NewWatchStream opens a stream of etcd watches on this member's applied
// state (see kv.Store.NewWatchStream).
func (n *Node) NewWatchStream() (mvcc.WatchStream, error) { return n.kv.NewWatchStream() }

// PrevKV is key as it was at revision rev (a watch event's prev_kv).
func (n *Node) PrevKV(key []byte, rev int64) (*mvccpb.KeyValue, error) { return n.kv.PrevKV(key, rev) }

// Revision is the applied store revision.
func (n *Node) Revision() int64 { return n.kv.Revision() }
