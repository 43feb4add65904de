// Package health serves a node's HTTP probe and status endpoints on
// --listen-metrics-urls: /livez (process + local read, never quorum),
// /readyz (leader known, linearizable read, not a learner, not fenced),
// /status (the raft view as JSON) and /metrics (Prometheus). The check
// output follows Kubernetes' and etcd's conventions: ?verbose lists each
// check as "[+]name ok" or "[-]name failed: reason", ?exclude=name skips one,
// /livez/<name> and /readyz/<name> run one check.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// Node is what the checks need from the replica; *raftnode.Node has it.
type Node interface {
	// Status is local and cheap; it never waits for a quorum.
	Status(ctx context.Context) (*nodepb.StatusResponse, error)
	// Range is linearizable unless req.Serializable.
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
}

// DefaultCheckTimeout bounds each check; below Kubernetes' 1 s default probe
// timeout would be too tight for a linearizable read under load, so probes
// should set timeoutSeconds ≥ 3.
const DefaultCheckTimeout = 2 * time.Second

// healthKey is the key the read checks touch, as etcd's /health does; its
// existence does not matter, only that the read completes.
const healthKey = "health"

// Config configures the handler.
type Config struct {
	// Gatherer serves /metrics; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// CheckTimeout bounds each check; 0 means DefaultCheckTimeout.
	CheckTimeout time.Duration
}

// Handler serves the endpoints. The node is attached once it has started
// (SetNode); until then, and after SetFenced, the read checks fail.
type Handler struct {
	cfg Config
	mux *http.ServeMux

	mu     sync.RWMutex
	node   Node
	fenced string
}

// New returns a handler with no node attached yet.
func New(cfg Config) *Handler {
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.Handle("/livez", h.checksHandler("livez", h.livezChecks()))
	h.mux.Handle("/livez/", h.checksHandler("livez", h.livezChecks()))
	h.mux.Handle("/readyz", h.checksHandler("readyz", h.readyzChecks()))
	h.mux.Handle("/readyz/", h.checksHandler("readyz", h.readyzChecks()))
	h.mux.HandleFunc("/status", h.serveStatus)
	h.mux.Handle("/metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	return h
}

// SetNode attaches the started node.
func (h *Handler) SetNode(n Node) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.node = n
}

// SetFenced records that the node refused to join; /readyz reports reason.
func (h *Handler) SetFenced(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fenced = reason
}

func (h *Handler) state() (Node, string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.node, h.fenced
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Ready runs the /readyz checks; the gRPC health service follows it.
func (h *Handler) Ready(ctx context.Context) error {
	for _, c := range h.readyzChecks() {
		if err := h.run(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// serveStatus writes the node's raft view as JSON (see StatusJSON).
func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	node, fenced := h.state()
	if node == nil {
		writeJSON(w, http.StatusServiceUnavailable, StatusJSON{Fenced: fenced})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CheckTimeout)
	defer cancel()
	st, err := node.Status(ctx)
	if err != nil {
		http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	out := FromStatus(st)
	out.Fenced = fenced
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status line is already sent; a failed write means the prober left.
	_ = enc.Encode(v)
}

// trimSlash turns "/readyz/leader" into "leader" for the per-check paths.
func trimSlash(path, endpoint string) string {
	return strings.Trim(strings.TrimPrefix(path, "/"+endpoint), "/")
}
