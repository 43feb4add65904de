package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/transport"
)

// inboxSize bounds the messages queued for one endpoint; more are dropped,
// as a congested network would.
const inboxSize = 4096

// errUnreachable is returned by Members and ChangeMembers across a
// partition or to a stopped endpoint.
var errUnreachable = errors.New("nodetest: peer unreachable")

// Network is an in-memory network between transports it creates, with
// fault injection: random loss of requests and of replies, random delay
// (which also reorders), and partitions. Safe for concurrent use.
type Network struct {
	mu        sync.Mutex
	rnd       *rand.Rand
	ends      map[string]*Endpoint // by peer URL
	byID      map[uint64]*Endpoint
	group     map[string]int // partition group by URL; absent = group 0
	dropReq   float64
	dropReply float64
	maxDelay  time.Duration
}

// NewNetwork returns a reliable, fully connected network.
func NewNetwork(seed uint64) *Network {
	return &Network{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ends: map[string]*Endpoint{}, byID: map[uint64]*Endpoint{}, group: map[string]int{}}
}

// SetUnreliable drops requests and replies with the given probabilities
// and delays every message by up to maxDelay.
func (nw *Network) SetUnreliable(dropReq, dropReply float64, maxDelay time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.dropReq, nw.dropReply, nw.maxDelay = dropReq, dropReply, maxDelay
}

// Partition splits the network: each argument is a group of peer URLs
// that can talk to each other; URLs not listed form one more group.
func (nw *Network) Partition(groups ...[]string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.group = map[string]int{}
	for i, g := range groups {
		for _, u := range g {
			nw.group[u] = i + 1
		}
	}
}

// Heal reconnects everything.
func (nw *Network) Heal() { nw.Partition() }

// connected tells whether a and b can talk. Caller holds mu.
func (nw *Network) connected(a, b string) bool { return nw.group[a] == nw.group[b] }

// ClientFate decides what the unreliable network does to one client call:
// drop the request (not executed) or the reply (executed, answer lost).
func (nw *Network) ClientFate() (dropRequest, dropReply bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.rnd.Float64() < nw.dropReq, nw.rnd.Float64() < nw.dropReply
}

// NewTransport makes the transport of the member at peer URL url.
func (nw *Network) NewTransport(url string) *Endpoint {
	return &Endpoint{nw: nw, url: url, peers: map[uint64]string{}, inbox: make(chan delivery, inboxSize), stopc: make(chan struct{})}
}

// Endpoint is one member's transport.Transport on a Network.
type Endpoint struct {
	nw    *Network
	url   string
	mu    sync.Mutex
	h     transport.Handler
	id    uint64
	peers map[uint64]string
	inbox chan delivery
	stopc chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

type delivery struct {
	from *Endpoint
	m    *raftpb.Message
	db   []byte // a MsgSnap's key space, read from the sender at send time
}

var _ transport.Transport = (*Endpoint)(nil)

// Start implements transport.Transport.
func (e *Endpoint) Start(h transport.Handler, localID, _ uint64) error {
	e.mu.Lock()
	e.h, e.id = h, localID
	e.mu.Unlock()
	e.nw.mu.Lock()
	e.nw.ends[e.url] = e
	e.nw.byID[localID] = e
	e.nw.mu.Unlock()
	e.wg.Add(1)
	go e.deliverLoop()
	return nil
}

// Stop implements transport.Transport: the endpoint leaves the network.
func (e *Endpoint) Stop() {
	e.once.Do(func() {
		e.nw.mu.Lock()
		if e.nw.ends[e.url] == e {
			delete(e.nw.ends, e.url)
			delete(e.nw.byID, e.id)
		}
		e.nw.mu.Unlock()
		close(e.stopc)
		e.wg.Wait()
	})
}

func (e *Endpoint) deliverLoop() {
	defer e.wg.Done()
	for {
		select {
		case d := <-e.inbox:
			e.deliver(d)
		case <-e.stopc:
			return
		}
	}
}

// deliver steps one message, re-checking the partition at arrival.
func (e *Endpoint) deliver(d delivery) {
	e.nw.mu.Lock()
	ok := e.nw.connected(d.from.url, e.url)
	e.nw.mu.Unlock()
	isSnap := d.m.GetType() == raftpb.MessageType_MsgSnap
	if !ok {
		d.from.report(d.m, isSnap, false)
		return
	}
	if e.h.IsRemoved(d.m.GetFrom()) {
		d.from.h.ReportRemoved(transport.ErrRemoved)
		return
	}
	var err error
	if isSnap {
		err = e.h.ReceiveSnapshotDB(d.m.GetSnapshot().GetMetadata().GetIndex(), bytes.NewReader(d.db))
	}
	if err == nil {
		err = e.h.Process(context.Background(), d.m)
	}
	if isSnap {
		d.from.report(d.m, true, err == nil)
	}
}

// report tells the sender's raft about a failed or finished delivery.
func (e *Endpoint) report(m *raftpb.Message, isSnap, ok bool) {
	select {
	case <-e.stopc:
		return
	default:
	}
	switch {
	case isSnap && ok:
		e.h.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
	case isSnap:
		e.h.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		e.h.ReportUnreachable(m.GetTo())
	default:
		e.h.ReportUnreachable(m.GetTo())
	}
}

// Send implements transport.Transport.
func (e *Endpoint) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		e.sendOne(m)
	}
}

func (e *Endpoint) sendOne(m *raftpb.Message) {
	isSnap := m.GetType() == raftpb.MessageType_MsgSnap
	e.mu.Lock()
	url, known := e.peers[m.GetTo()]
	e.mu.Unlock()
	nw := e.nw
	nw.mu.Lock()
	dst := nw.ends[url]
	reachable := known && dst != nil && nw.connected(e.url, url)
	drop := nw.dropReq
	if isResponse(m.GetType()) {
		drop = nw.dropReply
	}
	lost := nw.rnd.Float64() < drop
	delay := time.Duration(0)
	if nw.maxDelay > 0 {
		delay = time.Duration(nw.rnd.Int64N(int64(nw.maxDelay)))
	}
	nw.mu.Unlock()
	switch {
	case !reachable:
		e.report(m, isSnap, false)
		return
	case lost:
		if isSnap {
			e.report(m, true, false)
		}
		return
	}
	d := delivery{from: e, m: m}
	if isSnap {
		db, err := readDB(e.h)
		if err != nil {
			e.report(m, true, false)
			return
		}
		d.db = db
	}
	if delay == 0 {
		dst.enqueue(d)
		return
	}
	time.AfterFunc(delay, func() { dst.enqueue(d) })
}

func (e *Endpoint) enqueue(d delivery) {
	select {
	case e.inbox <- d:
	case <-e.stopc:
	default:
		d.from.report(d.m, d.m.GetType() == raftpb.MessageType_MsgSnap, false)
	}
}

// readDB reads the sender's key space whole, as the gRPC transport streams
// it after the message.
func readDB(h transport.Handler) ([]byte, error) {
	db, err := h.OpenSnapshotDB()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = db.WriteTo(&buf)
	return buf.Bytes(), errors.Join(err, db.Close())
}

func isResponse(t raftpb.MessageType) bool {
	switch t {
	case raftpb.MessageType_MsgAppResp, raftpb.MessageType_MsgHeartbeatResp, raftpb.MessageType_MsgVoteResp,
		raftpb.MessageType_MsgPreVoteResp, raftpb.MessageType_MsgReadIndexResp:
		return true
	}
	return false
}

// AddPeer implements transport.Transport.
func (e *Endpoint) AddPeer(id uint64, urls []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(urls) > 0 {
		e.peers[id] = urls[0]
	}
}

// UpdatePeer implements transport.Transport.
func (e *Endpoint) UpdatePeer(id uint64, urls []string) { e.AddPeer(id, urls) }

// RemovePeer implements transport.Transport.
func (e *Endpoint) RemovePeer(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.peers, id)
}

// target finds the running endpoint at url, if reachable from e.
func (e *Endpoint) target(url string) (*Endpoint, error) {
	e.nw.mu.Lock()
	defer e.nw.mu.Unlock()
	dst := e.nw.ends[url]
	if dst == nil || !e.nw.connected(e.url, url) {
		return nil, fmt.Errorf("%w: %s", errUnreachable, url)
	}
	return dst, nil
}

// Members implements transport.Transport.
func (e *Endpoint) Members(ctx context.Context, url string) (*peerpb.MembersResponse, error) {
	dst, err := e.target(url)
	if err != nil {
		return nil, err
	}
	return dst.h.Members(), nil
}

// ChangeMembers implements transport.Transport.
func (e *Endpoint) ChangeMembers(ctx context.Context, url string, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	dst, err := e.target(url)
	if err != nil {
		return nil, err
	}
	return dst.h.ChangeMembers(ctx, req)
}
