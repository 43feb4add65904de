package compactor

import (
	"context"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

type fakeTarget struct {
	rev       int64
	leader    bool
	compacted []int64
	err       error
}

func (f *fakeTarget) Revision() int64 { return f.rev }
func (f *fakeTarget) IsLeader() bool  { return f.leader }
func (f *fakeTarget) Compact(_ context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	f.compacted = append(f.compacted, r.Revision)
	return &pb.CompactionResponse{}, f.err
}

func TestNewModes(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		disabled bool
		err      bool
		interval time.Duration
	}{
		{name: "off", cfg: Config{}, disabled: true},
		{name: "periodic zero", cfg: Config{Mode: ModePeriodic}, disabled: true},
		{name: "revision zero", cfg: Config{Mode: ModeRevision}, disabled: true},
		{name: "periodic 1h", cfg: Config{Mode: ModePeriodic, Retention: time.Hour}, interval: 6 * time.Minute},
		{name: "periodic 30 days", cfg: Config{Mode: ModePeriodic, Retention: 720 * time.Hour}, interval: time.Hour},
		{name: "periodic 2s", cfg: Config{Mode: ModePeriodic, Retention: 2 * time.Second}, interval: time.Second},
		{name: "revision", cfg: Config{Mode: ModeRevision, Revisions: 1000}, interval: 5 * time.Minute},
		{name: "bad mode", cfg: Config{Mode: "hourly", Retention: time.Hour}, err: true},
		{name: "negative", cfg: Config{Mode: ModeRevision, Revisions: -1}, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, &fakeTarget{})
			switch {
			case tc.err:
				if err == nil {
					t.Fatal("no error")
				}
			case err != nil:
				t.Fatal(err)
			case tc.disabled != (c == nil):
				t.Fatalf("compactor %v, want disabled=%v", c, tc.disabled)
			case c != nil && c.Interval() != tc.interval:
				t.Fatalf("interval %v, want %v", c.Interval(), tc.interval)
			}
		})
	}
}

// Periodic mode compacts to the revision seen one retention ago; only the
// leader compacts; a revision compacted already is not proposed again.
func TestPeriodic(t *testing.T) {
	f := &fakeTarget{leader: true}
	c, err := New(Config{Mode: ModePeriodic, Retention: 10 * time.Second}, f)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for i := range 25 { // one tick a second, revision +10 per tick
		f.rev = int64(10 * (i + 1))
		f.leader = i != 12 // not the leader at the 13th tick
		c.Tick(context.Background(), t0.Add(time.Duration(i)*time.Second))
	}
	// Ticks 10..24 see the sample from 10 s before: revisions 10..150;
	// tick 12 (sample 30) was skipped as a follower and caught up at 13.
	want := []int64{10, 20, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150}
	if !slices.Equal(f.compacted, want) {
		t.Fatalf("compacted %v, want %v", f.compacted, want)
	}
}

func TestRevisionMode(t *testing.T) {
	f := &fakeTarget{leader: true, rev: 50}
	c, err := New(Config{Mode: ModeRevision, Revisions: 100}, f)
	if err != nil {
		t.Fatal(err)
	}
	c.Tick(context.Background(), time.Now()) // 50 - 100 < 0: nothing
	f.rev = 350
	c.Tick(context.Background(), time.Now())
	c.Tick(context.Background(), time.Now()) // unchanged: not again
	f.rev, f.err = 400, nodeerr.ErrCompacted
	c.Tick(context.Background(), time.Now())
	f.rev, f.err = 401, nil
	c.Tick(context.Background(), time.Now())
	if want := []int64{250, 300, 301}; !slices.Equal(f.compacted, want) {
		t.Fatalf("compacted %v, want %v", f.compacted, want)
	}
}
