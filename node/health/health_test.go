package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// fakeNode answers Status from st and fails linearizable / serializable
// reads with the configured errors; block makes linearizable reads wait for
// the context (a node cut off from its quorum).
type fakeNode struct {
	mu       sync.Mutex
	st       *nodepb.StatusResponse
	linErr   error
	serErr   error
	blockLin bool
}

func (f *fakeNode) Status(context.Context) (*nodepb.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

func (f *fakeNode) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	f.mu.Lock()
	linErr, serErr, block := f.linErr, f.serErr, f.blockLin
	f.mu.Unlock()
	if r.Serializable {
		return &pb.RangeResponse{}, serErr
	}
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &pb.RangeResponse{}, linErr
}

func healthyStatus() *nodepb.StatusResponse {
	return &nodepb.StatusResponse{
		Id: 1, Name: "n1", Role: "Leader", Leader: 1, Term: 3, Commit: 10, Applied: 9, ClusterId: 77,
		ConfState: &nodepb.ConfState{Voters: []uint64{1, 2, 3}},
		Members:   []*nodepb.Member{{Id: 1, Name: "n1", PeerUrls: []string{"http://127.0.0.1:2380"}}},
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	h.ServeHTTP(rec, req)
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, string(body)
}

func TestProbes(t *testing.T) {
	noLeader := healthyStatus()
	noLeader.Leader = 0
	learner := healthyStatus()
	learner.Role = "Learner"
	learner.ConfState = &nodepb.ConfState{Voters: []uint64{2, 3}, Learners: []uint64{1}}
	tests := []struct {
		name     string
		node     *fakeNode // nil: not started
		fenced   string
		path     string
		wantCode int
		wantBody []string
	}{
		{"ready", &fakeNode{st: healthyStatus()}, "", "/readyz", 200, []string{"ok\n"}},
		{"ready verbose", &fakeNode{st: healthyStatus()}, "", "/readyz?verbose", 200,
			[]string{"[+]not_fenced ok", "[+]leader ok", "[+]non_learner ok", "[+]linearizable_read ok", "readyz check passed"}},
		{"no leader", &fakeNode{st: noLeader}, "", "/readyz", 503, []string{"[-]leader failed: no leader known", "readyz check failed"}},
		{"no leader still live", &fakeNode{st: noLeader, linErr: errors.New("etcdserver: no leader")}, "", "/livez", 200, []string{"ok\n"}},
		{"learner", &fakeNode{st: learner}, "", "/readyz?verbose", 503, []string{"[-]non_learner failed: node is a learner", "[+]leader ok"}},
		{"read fails", &fakeNode{st: healthyStatus(), linErr: errors.New("etcdserver: request timed out")}, "", "/readyz", 503,
			[]string{"[-]linearizable_read failed: etcdserver: request timed out"}},
		{"quorum lost: read times out, live", &fakeNode{st: healthyStatus(), blockLin: true}, "", "/livez?verbose", 200, []string{"[+]serializable_read ok"}},
		{"quorum lost: not ready", &fakeNode{st: healthyStatus(), blockLin: true}, "", "/readyz", 503, []string{"[-]linearizable_read failed: context deadline exceeded"}},
		{"local read fails: not live", &fakeNode{st: healthyStatus(), serErr: errors.New("disk gone")}, "", "/livez", 503, []string{"[-]serializable_read failed: disk gone"}},
		{"exclude", &fakeNode{st: noLeader}, "", "/readyz?exclude=leader&verbose", 200, []string{"[+]linearizable_read ok"}},
		{"single check path", &fakeNode{st: noLeader}, "", "/readyz/linearizable_read", 200, []string{"ok\n"}},
		{"single failing check path", &fakeNode{st: noLeader}, "", "/readyz/leader", 503, []string{"[-]leader failed"}},
		{"unknown check", &fakeNode{st: healthyStatus()}, "", "/readyz/nope", 404, []string{"unknown check nope"}},
		{"not started", nil, "", "/readyz?verbose", 503, []string{"[+]not_fenced ok", "[-]leader failed: node has not started yet"}},
		{"not started not live", nil, "", "/livez", 503, []string{"[-]serializable_read failed: node has not started yet"}},
		{"fenced", nil, "data dir belongs to cluster 5", "/readyz", 503,
			[]string{"[-]not_fenced failed: node fenced: data dir belongs to cluster 5"}},
		{"fenced but live for the grace period", nil, "removed member", "/livez", 200, []string{"ok\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Config{CheckTimeout: 50 * time.Millisecond})
			if tt.node != nil {
				h.SetNode(tt.node)
			}
			if tt.fenced != "" {
				h.SetFenced(tt.fenced)
			}
			code, body := get(t, h, tt.path)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d; body:\n%s", code, tt.wantCode, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

func TestReadyFollowsReadyz(t *testing.T) {
	node := &fakeNode{st: healthyStatus()}
	h := New(Config{CheckTimeout: 50 * time.Millisecond})
	if err := h.Ready(t.Context()); err == nil {
		t.Error("Ready before SetNode = nil, want error")
	}
	h.SetNode(node)
	if err := h.Ready(t.Context()); err != nil {
		t.Errorf("Ready = %v, want nil", err)
	}
	h.SetFenced("removed member")
	if err := h.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "removed member") {
		t.Errorf("Ready when fenced = %v, want the reason", err)
	}
}

func TestStatusJSON(t *testing.T) {
	h := New(Config{})
	code, _ := get(t, h, "/status")
	if code != 503 {
		t.Errorf("status before start: %d, want 503", code)
	}
	st := healthyStatus()
	st.Joint = true
	st.ConfState.VotersOutgoing = []uint64{1, 2, 4}
	h.SetNode(&fakeNode{st: st})
	code, body := get(t, h, "/status")
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "name", "role", "leader", "term", "commit", "applied", "voters", "learners", "joint", "members", "voters_outgoing"} {
		if _, ok := got[key]; !ok {
			t.Errorf("/status lacks %q: %s", key, body)
		}
	}
	var typed StatusJSON
	if err := json.Unmarshal([]byte(body), &typed); err != nil {
		t.Fatal(err)
	}
	if typed.ID != 1 || typed.Leader != 1 || typed.Term != 3 || typed.Commit != 10 || typed.Applied != 9 ||
		!typed.Joint || len(typed.Voters) != 3 || typed.Learners == nil || len(typed.Members) != 1 || typed.Members[0].Name != "n1" {
		t.Errorf("/status = %+v", typed)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kuberaft_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	code, body := get(t, New(Config{Gatherer: reg}), "/metrics")
	if code != 200 || !strings.Contains(body, "kuberaft_test_total 3") {
		t.Errorf("/metrics = %d\n%s", code, body)
	}
}
