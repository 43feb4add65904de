package nodetest

import (
	"errors"
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestLearnerThatLostDataIsFenced: a learner that ran (published, caught
// up) and restarts with an empty data dir under its old ID must be fenced
// like a voter: otherwise a later promotion could count an empty log
// toward commit (issue 8 item 13; before, only voters were fenced).
func TestLearnerThatLostDataIsFenced(t *testing.T) {
	c := NewCluster(t, Options{})
	i, err := c.AddMember(ctxFor(t, 10*time.Second), "n3")
	if err != nil {
		t.Fatal(err)
	}
	c.waitCaughtUp(i)
	select {
	case <-c.Member(i).Node().Published():
	case <-time.After(10 * time.Second):
		t.Fatal("the learner did not publish")
	}
	if !c.Member(i).Node().IsLearner() {
		t.Fatal("n3 is not a learner")
	}
	var fenced *nodeerr.ErrFenced
	if err := c.Restart(i, true); !errors.As(err, &fenced) {
		t.Fatalf("learner restarted with an empty data dir: %v, want ErrFenced", err)
	}
}
