package nodetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// errDropped stands for a request or reply lost by the unreliable network.
var errDropped = errors.New("nodetest: message dropped")

// Client is a 6.824-style clerk: it retries an operation against
// members in turn until one succeeds, keeping one (client id, sequence)
// for all retries of a write, so the write applies at most once. Each
// completed operation is recorded in the History.
type Client struct {
	c       *Cluster
	id      int
	name    string
	seq     uint64
	rnd     *rand.Rand
	hist    *kvmodel.History
	attempt time.Duration // per-attempt timeout: then try another member
	lastErr error         // of the last failed attempt, for failure messages
	last    int           // member that answered last: tried first (a clerk remembers the leader)
}

// LastErr is the error of the client's last failed attempt.
func (cl *Client) LastErr() error { return cl.lastErr }

// NewClient returns client number id recording into hist.
func (c *Cluster) NewClient(id int, hist *kvmodel.History) *Client {
	return &Client{c: c, id: id, name: fmt.Sprintf("client-%d-%d", id, time.Now().UnixNano()), rnd: rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano()))), hist: hist, attempt: 2 * c.opts.ElectionTimeout, last: id}
}

// Get reads key linearizably; ok is false if no attempt succeeded before
// deadline (nothing is recorded then).
func (cl *Client) Get(deadline time.Time, key string) (string, bool) {
	call := cl.hist.Now()
	var val string
	err := cl.retry(deadline, func(ctx context.Context, n *raftnode.Node) error {
		resp, err := n.Range(ctx, &pb.RangeRequest{Key: []byte(key)})
		if err != nil {
			return err
		}
		val = ""
		if len(resp.Kvs) > 0 {
			val = string(resp.Kvs[0].Value)
		}
		return nil
	})
	if err != nil {
		return "", false
	}
	cl.hist.Add(cl.id, kvmodel.Input{Op: kvmodel.OpGet, Key: key}, kvmodel.Output{Value: val}, call, cl.hist.Now())
	return val, true
}

// Put writes key; a write that never got an answer is recorded with an
// unknown outcome.
func (cl *Client) Put(deadline time.Time, key, value string) bool {
	call := cl.hist.Now()
	err := cl.retryWrite(deadline, func(ctx context.Context, n *raftnode.Node) error {
		_, err := n.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value)})
		return err
	})
	cl.hist.Add(cl.id, kvmodel.Input{Op: kvmodel.OpPut, Key: key, Value: value}, kvmodel.Output{Unknown: err != nil}, call, cl.hist.Now())
	return err == nil
}

// Append appends suffix to key and returns the new value.
func (cl *Client) Append(deadline time.Time, key, suffix string) (string, bool) {
	call := cl.hist.Now()
	var val string
	err := cl.retryWrite(deadline, func(ctx context.Context, n *raftnode.Node) error {
		resp, err := n.Append(ctx, &nodepb.AppendRequest{Key: []byte(key), Suffix: []byte(suffix)})
		if err != nil {
			return err
		}
		val = string(resp.Value)
		return nil
	})
	cl.hist.Add(cl.id, kvmodel.Input{Op: kvmodel.OpAppend, Key: key, Value: suffix}, kvmodel.Output{Value: val, Unknown: err != nil}, call, cl.hist.Now())
	return val, err == nil
}

// retryWrite runs a write under one fresh (client id, seq).
func (cl *Client) retryWrite(deadline time.Time, op func(context.Context, *raftnode.Node) error) error {
	cl.seq++
	id := clientseq.Ident{ClientID: cl.name, Seq: cl.seq}
	return cl.retry(deadline, func(ctx context.Context, n *raftnode.Node) error {
		return op(clientseq.With(ctx, id), n)
	})
}

// retry tries op on members in turn (starting with the one that answered
// last, moving on after a failure, as a 6.824 clerk) until it succeeds
// with a definite answer or deadline passes. The unreliable
// network may drop the request (op not run) or the reply (op run, answer
// lost): both look like failures to the client.
func (cl *Client) retry(deadline time.Time, op func(context.Context, *raftnode.Node) error) error {
	for i := cl.last; time.Now().Before(deadline); i++ {
		ms := cl.c.Members()
		n := ms[i%len(ms)].Node()
		if n == nil {
			continue
		}
		dropReq, dropReply := cl.c.Net.ClientFate()
		if dropReq {
			time.Sleep(time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(cl.attempt, time.Until(deadline)))
		err := op(ctx, n)
		cancel()
		if err == nil && !dropReply {
			cl.last = i % len(ms)
			return nil
		}
		if err != nil {
			cl.lastErr = fmt.Errorf("%s: %w", ms[i%len(ms)].Name, err)
		}
		if err != nil && isDefinite(err) {
			return err
		}
		time.Sleep(time.Duration(cl.rnd.IntN(5)) * time.Millisecond)
	}
	return errDropped
}

// isDefinite tells whether an error is a final answer rather than "try
// elsewhere" (none of the errors these clients can get is).
func isDefinite(err error) bool {
	return errors.Is(err, nodeerr.ErrEmptyKey) || errors.Is(err, nodeerr.ErrRequestTooLarge)
}
