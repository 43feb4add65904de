package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode/proposal"
)

// respAs checks the type of an apply result. Apply answers waiters by
// request ID on every member, so another member's command with the same ID
// would deliver its result here; that once panicked on an unchecked type
// assertion (issue 8 item 16). The outcome of our own command is then
// unknown, as after a timeout.
func respAs[T proto.Message](resp proto.Message) (T, error) {
	r, ok := resp.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: got a %T result for this request (request ID collision)", nodeerr.ErrTimeout, resp)
	}
	return r, nil
}

// propose replicates cmd and waits until this node applied it (which is
// after it was durable here, see handleReady). The outcome of an error
// other than a validation error is unknown: the entry may still commit.
func (n *Node) propose(ctx context.Context, cmd *statepb.Command) (proto.Message, error) {
	if id, ok := clientseq.From(ctx); ok {
		cmd.ClientId, cmd.Seq = id.ClientID, id.Seq
	}
	cmd.RequestId = n.reqIDs.Next()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("raftnode: marshal command: %w", err)
	}
	if len(data) > n.cfg.Limits.MaxRequestBytes {
		return nil, nodeerr.ErrRequestTooLarge
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	if err := n.checkQuota(ctx, cmd, len(data)); err != nil {
		return nil, err
	}
	if err := n.waitLeader(ctx); err != nil {
		n.metrics.ProposalsFailed.Inc()
		return nil, err
	}
	_, _, leaderChanged := n.leaderState()
	n.metrics.ProposalsPending.Inc()
	defer n.metrics.ProposalsPending.Dec()
	ch := n.wait.Register(cmd.RequestId)
	if err := n.handOver(ctx, data); err != nil {
		n.wait.Trigger(cmd.RequestId, nil)
		n.metrics.ProposalsFailed.Inc()
		return nil, n.proposeError(err)
	}
	select {
	case x := <-ch:
		res, ok := kvResult(x)
		if !ok {
			return nil, n.stopped()
		}
		n.metrics.ProposalsCommitted.Inc()
		return res.Resp, res.Err
	case <-leaderChanged:
		// Unknown outcome: the new leader may or may not have the entry.
		n.wait.Trigger(cmd.RequestId, nil)
		n.metrics.ProposalsFailed.Inc()
		return nil, nodeerr.ErrLeaderChanged
	case <-ctx.Done():
		n.wait.Trigger(cmd.RequestId, nil)
		n.metrics.ProposalsFailed.Inc()
		return nil, n.ctxError(ctx)
	case <-n.stopc:
		return nil, n.stopped()
	}
}

// handOver queues data for raft (see batch.go) and waits until raft has
// it. An error means unknown outcome unless raft dropped it.
func (n *Node) handOver(ctx context.Context, data []byte) error {
	errc := make(chan error, 1)
	n.props.Add(proposal.Prop{Data: data, Errc: errc})
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return raft.ErrStopped
	}
}

func (n *Node) proposeError(err error) error {
	switch {
	case errors.Is(err, raft.ErrProposalDropped):
		// Dropped by raft: no leader, or a leadership transfer.
		if n.Leader() == 0 {
			return nodeerr.ErrNoLeader
		}
		return nodeerr.ErrLeaderChanged
	case errors.Is(err, raft.ErrStopped):
		return n.stopped()
	case errors.Is(err, context.DeadlineExceeded):
		return nodeerr.ErrTimeout
	}
	return err
}

// waitLeader waits, up to two election timeouts, for a leader to be known:
// a node that just started or just lost its leader learns the next one
// within that time, and failing at once would only make clients retry.
func (n *Node) waitLeader(ctx context.Context) error {
	var timeout <-chan time.Time
	for {
		lead, _, changed := n.leaderState()
		if lead != 0 {
			return nil
		}
		if timeout == nil {
			t := time.NewTimer(2 * n.cfg.ElectionTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return nodeerr.ErrNoLeader
		case <-ctx.Done():
			return n.ctxError(ctx)
		case <-n.stopc:
			return n.stopped()
		}
	}
}

// ctxError maps a finished context: the caller's cancellation stays
// context.Canceled; our own deadline is etcd's "request timed out".
func (n *Node) ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	if n.Leader() == 0 {
		return nodeerr.ErrNoLeader
	}
	return nodeerr.ErrTimeout
}

// header completes a response header from the state machine's revision.
func (n *Node) header(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{Revision: n.kv.Revision()}
	}
	_, term, _ := n.leaderState()
	h.ClusterId, h.MemberId, h.RaftTerm = n.clusterID, n.id, term
	return h
}

func marshalReq(m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("raftnode: marshal request: %w", err)
	}
	return b, nil
}

// Put implements Backend.
func (n *Node) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	b, err := marshalReq(req)
	if err != nil {
		return nil, err
	}
	resp, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_Put{Put: b}})
	if err != nil {
		return nil, err
	}
	r, err := respAs[*pb.PutResponse](resp)
	if err != nil {
		return nil, err
	}
	r.Header = n.header(r.Header)
	return r, nil
}

// DeleteRange implements Backend.
func (n *Node) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	b, err := marshalReq(req)
	if err != nil {
		return nil, err
	}
	resp, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_DeleteRange{DeleteRange: b}})
	if err != nil {
		return nil, err
	}
	r, err := respAs[*pb.DeleteRangeResponse](resp)
	if err != nil {
		return nil, err
	}
	r.Header = n.header(r.Header)
	return r, nil
}

// Txn implements Backend. A txn that writes nothing is served like a
// linearizable read, without a log entry.
func (n *Node) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if kv.IsReadOnlyTxn(req) {
		if err := n.linearizableRead(ctx); err != nil {
			return nil, err
		}
		r, err := n.kv.Txn(req)
		if err != nil {
			return nil, err
		}
		r.Header = n.header(r.Header)
		return r, nil
	}
	b, err := marshalReq(req)
	if err != nil {
		return nil, err
	}
	resp, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_Txn{Txn: b}})
	if err != nil {
		return nil, err
	}
	r, err := respAs[*pb.TxnResponse](resp)
	if err != nil {
		return nil, err
	}
	r.Header = n.header(r.Header)
	return r, nil
}

// Append implements Backend.
func (n *Node) Append(ctx context.Context, req *nodepb.AppendRequest) (*nodepb.AppendResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	resp, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_Append{Append: &statepb.AppendOp{Key: req.Key, Suffix: req.Suffix, MaxValueBytes: uint64(n.cfg.Limits.MaxRequestBytes)}}})
	if err != nil {
		return nil, err
	}
	return respAs[*nodepb.AppendResponse](resp)
}

// IncrementAndGet implements Backend.
func (n *Node) IncrementAndGet(ctx context.Context, req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	resp, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_Increment{Increment: &statepb.IncrementOp{Key: req.Key, Delta: req.Delta}}})
	if err != nil {
		return nil, err
	}
	return respAs[*nodepb.IncrementResponse](resp)
}

// Range implements Backend: linearizable through ReadIndex unless
// req.Serializable, which reads this node's state as it is.
func (n *Node) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	if !req.Serializable {
		if err := n.linearizableRead(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := n.kv.Range(req)
	if err != nil {
		return nil, err
	}
	resp.Header = n.header(resp.Header)
	return resp, nil
}

// publishLoop records this member's name and client URLs in the replicated
// member list once it runs (members added by MemberAdd have neither; a
// restarted member may have new client URLs), as etcd's publish does.
// Retries until done or stop; Published tells when it is done.
func (n *Node) publishLoop() {
	for {
		m, ok := n.kv.Member(n.id)
		if ok && m.Name == n.cfg.Name && equalStrings(m.ClientUrls, n.cfg.AdvertiseClientURLs) {
			close(n.published)
			return
		}
		n.mu.RLock()
		confChanged := n.confChanged
		n.mu.RUnlock()
		if ok {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
			_, err := n.propose(ctx, &statepb.Command{Op: &statepb.Command_Publish{Publish: &statepb.Member{Id: n.id, Name: n.cfg.Name, ClientUrls: n.cfg.AdvertiseClientURLs}}})
			cancel()
			if err == nil {
				continue
			}
		}
		// Not applied yet (a joining learner catching up), or the
		// proposal failed: wait for the next conf change or a moment.
		select {
		case <-confChanged:
		case <-time.After(n.cfg.ElectionTimeout):
		case <-n.stopc:
			return
		}
	}
}

// Published is closed once this member's name and client URLs are in the
// replicated member list (etcd's server is not ready before that either).
func (n *Node) Published() <-chan struct{} { return n.published }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
