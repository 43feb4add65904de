package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// check is one named probe condition.
type check struct {
	name string
	run  func(ctx context.Context, n Node) error
	// liveness checks pass while the node is fenced: the process is fine
	// and must keep running for the grace period, so that Kubernetes'
	// startup/liveness probes pass and its readiness probe (and its events)
	// show the reason /readyz gives.
	liveness bool
}

var (
	errNotStarted = errors.New("node has not started yet")
	errNoLeader   = errors.New("no leader known")
	errLearner    = errors.New("node is a learner (not a voter yet)")
)

// livezChecks never depend on a quorum: a partitioned but healthy process
// must not be restarted (that would only add a restart storm to the outage).
func (h *Handler) livezChecks() []check {
	return []check{{name: "serializable_read", run: serializableRead, liveness: true}}
}

// readyzChecks say whether this node should receive client traffic.
func (h *Handler) readyzChecks() []check {
	return []check{
		{name: "not_fenced"}, // answered from the handler's state in run
		{name: "leader", run: leaderKnown},
		{name: "non_learner", run: nonLearner},
		{name: "linearizable_read", run: linearizableRead},
	}
}

func serializableRead(ctx context.Context, n Node) error {
	_, err := n.Range(ctx, &pb.RangeRequest{Key: []byte(healthKey), Serializable: true, KeysOnly: true, Limit: 1})
	return err
}

func linearizableRead(ctx context.Context, n Node) error {
	_, err := n.Range(ctx, &pb.RangeRequest{Key: []byte(healthKey), KeysOnly: true, Limit: 1})
	return err
}

func leaderKnown(ctx context.Context, n Node) error {
	st, err := n.Status(ctx)
	if err != nil {
		return err
	}
	if st.GetLeader() == 0 {
		return errNoLeader
	}
	return nil
}

func nonLearner(ctx context.Context, n Node) error {
	st, err := n.Status(ctx)
	if err != nil {
		return err
	}
	if st.GetRole() == "Learner" || slices.Contains(st.GetConfState().GetLearners(), st.GetId()) {
		return errLearner
	}
	return nil
}

// run executes one check within the handler's timeout. A fenced node fails
// every readiness check (it has no data it may serve) and passes the
// liveness ones.
func (h *Handler) run(ctx context.Context, c check) error {
	node, fenced := h.state()
	if fenced != "" {
		if c.liveness {
			return nil
		}
		return fmt.Errorf("node fenced: %s", fenced)
	}
	if c.run == nil {
		return nil
	}
	if node == nil {
		return errNotStarted
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CheckTimeout)
	defer cancel()
	return c.run(ctx, node)
}

// checksHandler serves /<endpoint>, /<endpoint>?verbose, ?exclude=<name> and
// /<endpoint>/<name>. Status 200 when every selected check passes, else 503.
func (h *Handler) checksHandler(endpoint string, checks []check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		selected, ok := selectChecks(checks, trimSlash(r.URL.Path, endpoint), r.URL.Query()["exclude"])
		if !ok {
			http.Error(w, "unknown check "+trimSlash(r.URL.Path, endpoint), http.StatusNotFound)
			return
		}
		var b strings.Builder
		failed := false
		for _, c := range selected {
			if err := h.run(r.Context(), c); err != nil {
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if failed {
			// Like Kubernetes: a failure always lists the checks.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%s%s check failed\n", b.String(), endpoint)
			return
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			fmt.Fprintf(w, "%s%s check passed\n", b.String(), endpoint)
			return
		}
		fmt.Fprint(w, "ok\n")
	})
}

// selectChecks picks the checks for a request: one by name, or all minus
// the excluded ones. ok is false for an unknown name.
func selectChecks(checks []check, only string, exclude []string) ([]check, bool) {
	if only != "" {
		for _, c := range checks {
			if c.name == only {
				return []check{c}, true
			}
		}
		return nil, false
	}
	var out []check
	for _, c := range checks {
		if !slices.Contains(exclude, c.name) {
			out = append(out, c)
		}
	}
	return out, true
}
