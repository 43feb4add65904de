package transport

import (
	"bufio"
	"context"
	"errors"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
)

// peer sends to one remote member: one goroutine batches messages onto a
// long-lived client stream, another sends snapshots (which can be large
// and must not delay heartbeats).
type peer struct {
	t     *GRPC
	id    uint64
	conn  *grpc.ClientConn
	msgc  chan *raftpb.Message
	snapc chan *raftpb.Message
	stopc chan struct{}
	wake  chan struct{} // the peer was heard from: stop waiting to retry
}

func (t *GRPC) newPeer(id uint64, urls []string) (*peer, error) {
	// One URL is used; the others are spares if it cannot be parsed.
	var conn *grpc.ClientConn
	var err error
	for _, u := range urls {
		if conn, err = t.dial(u); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	p := &peer{t: t, id: id, conn: conn, msgc: make(chan *raftpb.Message, queueSize), snapc: make(chan *raftpb.Message, 1), stopc: make(chan struct{}), wake: make(chan struct{}, 1)}
	t.wg.Add(2)
	go func() { defer t.wg.Done(); p.streamLoop() }()
	go func() { defer t.wg.Done(); p.snapshotLoop() }()
	return p, nil
}

func (p *peer) stop() {
	close(p.stopc)
	_ = p.conn.Close()
}

// send queues m without blocking; a full queue drops it.
func (p *peer) send(m *raftpb.Message) {
	if m.GetType() == raftpb.MessageType_MsgSnap {
		select {
		case p.snapc <- m:
		default:
			// One snapshot at a time: raft waits for ReportSnapshot.
			p.t.h.ReportSnapshot(p.id, raft.SnapshotFailure)
		}
		return
	}
	select {
	case p.msgc <- m:
	default:
		p.t.h.ReportUnreachable(p.id)
	}
}

// streamLoop sends batches on one client stream, reopening it after a
// failure (raft resends what was lost).
func (p *peer) streamLoop() {
	s := p.hello()
	defer func() {
		if s != nil {
			s.cancel()
		}
	}()
	for {
		batch, ok := p.nextBatch()
		if !ok {
			return
		}
		if s != nil && s.broken() {
			s.cancel()
			s = nil
		}
		if s == nil {
			var err error
			if s, err = p.open(); err != nil {
				p.failed(err)
				continue
			}
		}
		if err := s.stream.Send(batch); err != nil {
			s.cancel()
			s = nil
			p.failed(err)
		}
	}
}

// hello opens the stream at once with an empty batch, before raft has
// anything to send, so that the peer hears from this member as it starts
// (GRPC.heardFrom). It returns the stream, or nil if the peer cannot be
// reached yet, which is no failure: raft's first message will retry.
func (p *peer) hello() *openStream {
	s, err := p.open()
	if err != nil {
		return nil
	}
	if err := s.stream.Send(&peerpb.MessageBatch{From: p.t.localID, ClusterId: p.t.clusterID}); err != nil {
		s.cancel()
		return nil
	}
	return s
}

// openStream is one Messages stream and its watcher.
type openStream struct {
	stream grpc.ClientStreamingClient[peerpb.MessageBatch, peerpb.Ack]
	cancel context.CancelFunc
	done   chan struct{} // closed when the server ended the stream
}

func (s *openStream) broken() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// open starts a stream and a watcher that waits for the server to end it:
// a refusal ("removed", "other cluster") arrives that way even when no
// further Send would fail.
func (p *peer) open() (*openStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := peerpb.NewPeerClient(p.conn).Messages(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &openStream{stream: stream, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		err := FromStatus(stream.RecvMsg(&peerpb.Ack{}))
		switch {
		case errors.Is(err, ErrRemoved):
			// A member of our cluster says we were removed: stop.
			p.t.lg.Warn("Peer says this member was removed", zap.Uint64("peer", p.id), zap.Error(err))
			p.t.h.ReportRemoved(err)
		case errors.Is(err, ErrClusterMismatch):
			// Either side may be the misconfigured one; one foreign peer
			// must not take a healthy member down, so it only counts as
			// unreachable.
			p.t.lg.Warn("Peer belongs to another cluster", zap.Uint64("peer", p.id), zap.Error(err))
		}
	}()
	return s, nil
}

// failed reports the peer unreachable and waits before the next attempt,
// dropping what queued meanwhile.
func (p *peer) failed(err error) {
	p.t.h.ReportUnreachable(p.id)
	p.t.lg.Debug("Sending to peer failed", zap.Uint64("peer", p.id), zap.Error(err))
	timer := time.NewTimer(reconnectDelay)
	defer timer.Stop()
	for {
		select {
		case <-p.msgc:
		case <-timer.C:
			return
		case <-p.wake:
			return
		case <-p.stopc:
			return
		}
	}
}

// nextBatch waits for a message, then takes every queued one up to
// batchBytes.
func (p *peer) nextBatch() (*peerpb.MessageBatch, bool) {
	b := &peerpb.MessageBatch{From: p.t.localID, ClusterId: p.t.clusterID}
	size := 0
	add := func(m *raftpb.Message) {
		data, err := proto.Marshal(m)
		if err != nil {
			p.t.lg.Error("Cannot marshal raft message", zap.Error(err))
			return
		}
		b.Messages = append(b.Messages, data)
		size += len(data)
	}
	select {
	case m := <-p.msgc:
		add(m)
	case <-p.stopc:
		return nil, false
	}
	for size < batchBytes {
		select {
		case m := <-p.msgc:
			add(m)
		default:
			return b, true
		}
	}
	return b, true
}

// snapshotLoop streams each MsgSnap in chunks and tells raft how it went.
func (p *peer) snapshotLoop() {
	for {
		select {
		case m := <-p.snapc:
			start := time.Now()
			sent, err := p.sendSnapshot(m)
			status := raft.SnapshotFinish
			if err != nil {
				p.t.lg.Warn("Sending snapshot failed", zap.Uint64("peer", p.id), zap.Error(err))
				status = raft.SnapshotFailure
				p.t.h.ReportUnreachable(p.id)
			} else {
				// Logged as etcd logs its snapshot sends: a new member's
				// catch-up is mostly this transfer.
				p.t.lg.Info("Sent snapshot", zap.Uint64("peer", p.id), zap.Uint64("index", m.GetSnapshot().GetMetadata().GetIndex()),
					zap.Int64("bytes", sent), zap.Duration("took", time.Since(start)))
			}
			p.t.h.ReportSnapshot(p.id, status)
		case <-p.stopc:
			return
		}
	}
}

// sendSnapshot streams m and then the key space; it returns the bytes
// sent.
func (p *peer) sendSnapshot(m *raftpb.Message) (int64, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return 0, err
	}
	db, err := p.t.h.OpenSnapshotDB()
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }()
	// A minute plus a second per MiB: a 1 GiB key space gets ~18 min.
	timeout := snapshotTimeout + time.Duration((int64(len(data))+db.Size())>>20)*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-p.stopc:
			cancel()
		case <-ctx.Done():
		}
	}()
	stream, err := peerpb.NewPeerClient(p.conn).Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	send := func(c *peerpb.SnapshotChunk) error {
		c.From, c.ClusterId = p.t.localID, p.t.clusterID
		if err := stream.Send(c); err != nil {
			_, err = stream.CloseAndRecv()
			return FromStatus(err)
		}
		return nil
	}
	for off := 0; off < len(data); off += chunkBytes {
		if err := send(&peerpb.SnapshotChunk{Data: data[off:min(off+chunkBytes, len(data))]}); err != nil {
			return 0, err
		}
	}
	cw := newChunkWriter(send)
	n, err := db.WriteTo(cw)
	if err != nil {
		return 0, err
	}
	if err := cw.Flush(); err != nil {
		return 0, err
	}
	if err := send(&peerpb.SnapshotChunk{Last: true}); err != nil {
		return 0, err
	}
	_, err = stream.CloseAndRecv()
	return int64(len(data)) + n, FromStatus(err)
}

// newChunkWriter returns a writer that sends what is written to it as db
// chunks of chunkBytes (the last one shorter, on Flush). bbolt writes its
// file in 32 KiB pieces, and one gRPC message per piece cost half the
// transfer rate, hence the buffer; bufio's ReadFrom also fills it straight
// from the io.CopyN bbolt uses for the file's pages.
//
// The buffer is reused for every chunk. Send marshals the chunk before it
// returns (gRPC's proto codec copies Db into a pooled buffer of its own),
// and the peer connection has no stats handler or binary log that could
// read the message later, so chunkWriter sends bufio's bytes as they are.
// A copy per chunk made the leader allocate the whole key space again: at
// ~1 GiB its garbage collector, scanning a heap of a million keys' index,
// took more than half the leader's CPU during a new member's catch-up.
func newChunkWriter(send func(*peerpb.SnapshotChunk) error) *bufio.Writer {
	return bufio.NewWriterSize(chunkWriter{send: send}, chunkBytes)
}

// chunkWriter sends each Write as db chunks of at most chunkBytes.
type chunkWriter struct {
	send func(*peerpb.SnapshotChunk) error
}

func (w chunkWriter) Write(b []byte) (int, error) {
	for off := 0; off < len(b); off += chunkBytes {
		if err := w.send(&peerpb.SnapshotChunk{Db: b[off:min(off+chunkBytes, len(b))]}); err != nil {
			return off, err
		}
	}
	return len(b), nil
}
