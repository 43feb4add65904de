package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// DefaultWatchProgressNotifyInterval is etcd's
// --experimental-watch-progress-notify-interval default: how often a watch
// created with progress_notify and no events since gets a progress
// response.
const DefaultWatchProgressNotifyInterval = 10 * time.Minute

// ctrlBufferLen bounds the created/canceled responses queued between the
// receive and send halves of one stream (etcd's ctrlStreamBufLen).
const ctrlBufferLen = 16

// watchServer is etcd's Watch service, after etcd's v3rpc/watch.go: one
// mvcc.WatchStream of the node's store per gRPC stream. The mvcc layer
// gives the semantics (start revision, history replay, compaction, bounded
// buffers with unsynced and victim watchers so a slow client never blocks
// writers); this file adds the protocol: a created response before any
// event of its watch, prev_kv, progress (requested and periodic),
// fragmenting, cancel.
type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchStream is the state of one gRPC Watch stream.
type watchStream struct {
	srv    *Server
	grpc   pb.Watch_WatchServer
	ws     mvcc.WatchStream
	ctrl   chan *pb.WatchResponse
	header *pb.ResponseHeader // cluster, member, term at stream start

	mu sync.Mutex
	// Per watch: prev_kv requested, fragmenting allowed, progress_notify
	// requested (value: no events since the last tick).
	prevKV   map[mvcc.WatchID]bool
	fragment map[mvcc.WatchID]bool
	progress map[mvcc.WatchID]bool
	// deferredProgress: a progress request came while a watcher was not
	// synced; it is answered once all are (etcd's rule).
	deferredProgress bool
}

func (w *watchServer) Watch(stream pb.Watch_WatchServer) error {
	ctx := stream.Context()
	if requireLeader(ctx) {
		if st, err := w.s.cfg.Backend.Status(ctx); err != nil || st.GetLeader() == 0 {
			return rpctypes.ErrGRPCNoLeader
		}
	}
	ws, err := w.s.cfg.Backend.NewWatchStream()
	if err != nil {
		return ToGRPCError(err)
	}
	defer ws.Close()
	sws := &watchStream{
		srv: w.s, grpc: stream, ws: ws, ctrl: make(chan *pb.WatchResponse, ctrlBufferLen),
		header:   w.s.header(ctx),
		prevKV:   map[mvcc.WatchID]bool{},
		fragment: map[mvcc.WatchID]bool{},
		progress: map[mvcc.WatchID]bool{},
	}
	recvDone := make(chan error, 1)
	go func() { recvDone <- sws.recvLoop(ctx) }()
	// Sending stays on the handler's goroutine: gRPC forbids Send after
	// the handler returned.
	err = sws.sendLoop(ctx, recvDone)
	if err != nil {
		w.s.cfg.Logger.Debug("Watch stream ended", zap.Error(err))
	}
	return err
}

// requireLeader tells whether the client asked, as kube-apiserver and
// etcdctl do (clientv3.WithRequireLeader), for the stream to fail without a
// leader.
func requireLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	vs := md.Get(rpctypes.MetadataRequireLeaderKey)
	return len(vs) > 0 && vs[0] == rpctypes.MetadataHasLeader
}

func (sws *watchStream) newHeader(rev int64) *pb.ResponseHeader {
	h := proto.Clone(sws.header).(*pb.ResponseHeader)
	h.Revision = rev
	return h
}

// recvLoop handles the client's requests until the stream ends.
func (sws *watchStream) recvLoop(ctx context.Context) error {
	for {
		req, err := sws.grpc.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var resp *pb.WatchResponse
		switch r := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			resp = sws.create(ctx, r.CreateRequest)
		case *pb.WatchRequest_CancelRequest:
			resp = sws.cancel(r.CancelRequest)
		case *pb.WatchRequest_ProgressRequest:
			sws.requestProgressAll()
		}
		if resp == nil {
			continue
		}
		select {
		case sws.ctrl <- resp:
		case <-ctx.Done():
			return nil
		}
	}
}

func (sws *watchStream) create(ctx context.Context, cr *pb.WatchCreateRequest) *pb.WatchResponse {
	end := cr.RangeEnd
	switch {
	case len(end) == 0:
		end = nil // one key
	case len(end) == 1 && end[0] == 0:
		end = []byte{} // every key >= key
	}
	var filters []mvcc.FilterFunc
	for _, f := range cr.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			filters = append(filters, func(e *mvccpb.Event) bool { return e.Type == mvccpb.PUT })
		case pb.WatchCreateRequest_NODELETE:
			filters = append(filters, func(e *mvccpb.Event) bool { return e.Type == mvccpb.DELETE })
		}
	}
	rev := sws.ws.Rev()
	id, err := sws.ws.Watch(ctx, mvcc.WatchID(cr.WatchId), cr.Key, end, cr.StartRevision, filters...)
	if err == nil {
		sws.mu.Lock()
		sws.prevKV[id], sws.fragment[id] = cr.PrevKv, cr.Fragment
		if cr.ProgressNotify {
			sws.progress[id] = true
		}
		sws.mu.Unlock()
	}
	resp := &pb.WatchResponse{Header: sws.newHeader(rev), WatchId: int64(id), Created: true, Canceled: err != nil}
	if err != nil {
		resp.CancelReason = err.Error()
	}
	return resp
}

func (sws *watchStream) cancel(cr *pb.WatchCancelRequest) *pb.WatchResponse {
	id := mvcc.WatchID(cr.WatchId)
	if err := sws.ws.Cancel(id); err != nil {
		return nil // unknown id: nothing to answer (etcd ignores it too)
	}
	sws.forget(id)
	return &pb.WatchResponse{Header: sws.newHeader(sws.ws.Rev()), WatchId: cr.WatchId, Canceled: true}
}

func (sws *watchStream) forget(id mvcc.WatchID) {
	sws.mu.Lock()
	defer sws.mu.Unlock()
	delete(sws.prevKV, id)
	delete(sws.fragment, id)
	delete(sws.progress, id)
}

// requestProgressAll answers a progress request: a response with watch id
// -1 and the current revision once every watcher of the stream is synced.
func (sws *watchStream) requestProgressAll() {
	sws.mu.Lock()
	defer sws.mu.Unlock()
	if !sws.deferredProgress && !sws.ws.RequestProgressAll() {
		sws.deferredProgress = true
	}
}

// sendLoop sends created/canceled responses and events, in order, until
// the stream ends.
func (sws *watchStream) sendLoop(ctx context.Context, recvDone <-chan error) error {
	created := map[mvcc.WatchID]bool{}
	// Events of a watch whose created response is not sent yet.
	pending := map[mvcc.WatchID][]*pb.WatchResponse{}
	ticker := time.NewTicker(sws.srv.cfg.WatchProgressNotifyInterval)
	defer ticker.Stop()
	for {
		select {
		case wresp, ok := <-sws.ws.Chan():
			if !ok {
				return nil
			}
			resp, err := sws.toResponse(wresp)
			if err != nil {
				return ToGRPCError(err)
			}
			if wresp.WatchID != clientv3.InvalidWatchID && !created[wresp.WatchID] {
				pending[wresp.WatchID] = append(pending[wresp.WatchID], resp)
				continue
			}
			if err := sws.send(resp); err != nil {
				return err
			}
			if wresp.CompactRevision != 0 {
				sws.forget(wresp.WatchID) // mvcc dropped the watcher
			}
		case resp := <-sws.ctrl:
			if err := sws.sendCtrl(resp, created, pending); err != nil {
				return err
			}
		case <-ticker.C:
			sws.tickProgress()
		case err := <-recvDone:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

func (sws *watchStream) sendCtrl(resp *pb.WatchResponse, created map[mvcc.WatchID]bool, pending map[mvcc.WatchID][]*pb.WatchResponse) error {
	if err := sws.grpc.Send(resp); err != nil {
		return err
	}
	id := mvcc.WatchID(resp.WatchId)
	switch {
	case resp.Created && !resp.Canceled:
		created[id] = true
		for _, p := range pending[id] {
			if err := sws.send(p); err != nil {
				return err
			}
		}
		delete(pending, id)
	case resp.Canceled:
		delete(created, id)
		delete(pending, id)
	}
	return nil
}

// toResponse turns an mvcc response into the wire one, filling prev_kv
// when the watch asked for it.
func (sws *watchStream) toResponse(wresp mvcc.WatchResponse) (*pb.WatchResponse, error) {
	sws.mu.Lock()
	needPrev := sws.prevKV[wresp.WatchID]
	if len(wresp.Events) > 0 {
		if _, ok := sws.progress[wresp.WatchID]; ok {
			sws.progress[wresp.WatchID] = false // events count as progress
		}
	}
	sws.mu.Unlock()
	events := make([]*mvccpb.Event, len(wresp.Events))
	for i, ev := range wresp.Events {
		events[i] = ev
		isCreate := ev.Type == mvccpb.PUT && ev.Kv.CreateRevision == ev.Kv.ModRevision
		if !needPrev || isCreate {
			continue
		}
		prev, err := sws.srv.cfg.Backend.PrevKV(ev.Kv.Key, ev.Kv.ModRevision-1)
		if err != nil {
			return nil, err
		}
		withPrev := proto.Clone(ev).(*mvccpb.Event)
		withPrev.PrevKv = prev
		events[i] = withPrev
	}
	return &pb.WatchResponse{
		Header: sws.newHeader(wresp.Revision), WatchId: int64(wresp.WatchID), Events: events,
		CompactRevision: wresp.CompactRevision, Canceled: wresp.CompactRevision != 0,
	}, nil
}

// send sends resp, in fragments when the watch allows it and resp is over
// the request size limit (etcd's sendFragments); then answers a deferred
// progress request if every watcher is now synced.
func (sws *watchStream) send(resp *pb.WatchResponse) error {
	sws.mu.Lock()
	frag := sws.fragment[mvcc.WatchID(resp.WatchId)]
	sws.mu.Unlock()
	var err error
	if frag && proto.Size(resp) > sws.srv.cfg.Limits.MaxRequestBytes && len(resp.Events) > 1 {
		err = sws.sendFragments(resp)
	} else {
		err = sws.grpc.Send(resp)
	}
	if err != nil {
		return err
	}
	sws.mu.Lock()
	defer sws.mu.Unlock()
	if sws.deferredProgress && sws.ws.RequestProgressAll() {
		sws.deferredProgress = false
	}
	return nil
}

// sendFragments splits resp's events into responses under the size limit
// (at least one event each); all but the last carry fragment=true.
func (sws *watchStream) sendFragments(resp *pb.WatchResponse) error {
	limit := sws.srv.cfg.Limits.MaxRequestBytes
	events := resp.Events
	for len(events) > 0 {
		part := proto.Clone(resp).(*pb.WatchResponse)
		part.Events = nil
		n := 0
		for n < len(events) && (n == 0 || proto.Size(part)+proto.Size(events[n]) < limit) {
			part.Events = append(part.Events, events[n])
			n++
		}
		events = events[n:]
		part.Fragment = len(events) > 0
		if err := sws.grpc.Send(part); err != nil {
			return err
		}
	}
	return nil
}

// tickProgress requests a progress response for every watch created with
// progress_notify that got no events since the last tick (etcd's rule).
func (sws *watchStream) tickProgress() {
	sws.mu.Lock()
	defer sws.mu.Unlock()
	for id, idle := range sws.progress {
		if idle {
			sws.ws.RequestProgress(id)
		}
		sws.progress[id] = true
	}
	// A deferred progress request also gets another chance here, in case
	// no event comes to trigger it.
	if sws.deferredProgress && sws.ws.RequestProgressAll() {
		sws.deferredProgress = false
	}
}
