package controllers_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kuberaft/kuberaft/controllers"
)

// TestStatusIsPatchedOnlyWhenSomethingActionableChanged: on a converged
// cluster every loop sees a new commit index, yet status is written only
// once per LiveFiguresPeriod for those figures, and at once when something
// a user acts on (a member's health) changes.
func TestStatusIsPatchedOnlyWhenSomethingActionableChanged(t *testing.T) {
	var patches atomic.Int32
	e := newEnvWith(t, 3, interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object,
		patch client.Patch, opts ...client.SubResourcePatchOption) error {
		patches.Add(1)
		return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
	}})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.r.Now = func() time.Time { return now }
	e.converge(30)
	before := e.get().Status.Members[0].CommitIndex

	patches.Store(0)
	for range 10 {
		e.tick()
	}
	if n := patches.Load(); n != 0 {
		t.Errorf("%d status patches in 10 converged loops, want 0", n)
	}
	now = now.Add(controllers.LiveFiguresPeriod)
	e.tick()
	if n := patches.Load(); n != 1 {
		t.Errorf("%d status patches once the live figures are due, want 1", n)
	}
	if after := e.get().Status.Members[0].CommitIndex; after <= before {
		t.Errorf("commitIndex %d not refreshed (was %d)", after, before)
	}

	patches.Store(0)
	e.world.CutOff["kv-1"] = true
	e.tick()
	e.tick()
	if n := patches.Load(); n == 0 {
		t.Error("a member turning unhealthy was not written")
	}
	delete(e.world.CutOff, "kv-1")
	e.converge(20)
}
