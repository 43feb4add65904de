package policy

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func TestDue(t *testing.T) {
	every5, err := ParseSchedule("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		last, now time.Time
		wantDue   bool
		wantSlot  time.Time
		wantNext  time.Time
	}{
		{"just ran", t0, t0.Add(time.Minute), false, time.Time{}, t0.Add(5 * time.Minute)},
		{"slot reached", t0, t0.Add(5 * time.Minute), true, t0.Add(5 * time.Minute), t0.Add(10 * time.Minute)},
		{"missed three slots: one run, the latest", t0, t0.Add(17 * time.Minute), true, t0.Add(15 * time.Minute), t0.Add(20 * time.Minute)},
		{"never ran, created mid-slot", t0.Add(2 * time.Minute), t0.Add(3 * time.Minute), false, time.Time{}, t0.Add(5 * time.Minute)},
		{"missed a year: bounded walk", t0, t0.Add(365 * 24 * time.Hour).Add(30 * time.Second), true,
			t0.Add(365 * 24 * time.Hour), t0.Add(365 * 24 * time.Hour).Add(5 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, slot, next := Due(every5, tt.last, tt.now)
			if due != tt.wantDue || !slot.Equal(tt.wantSlot) || !next.Equal(tt.wantNext) {
				t.Fatalf("Due = %v, %v, %v; want %v, %v, %v", due, slot, next, tt.wantDue, tt.wantSlot, tt.wantNext)
			}
		})
	}
}

func TestParseScheduleRejectsBadSyntax(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "0 */5 * * * *", "61 * * * *", "@every-other"} {
		if _, err := ParseSchedule(expr); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
	for _, expr := range []string{"@daily", "CRON_TZ=Europe/Paris 0 3 * * *", "*/1 * * * *"} {
		if _, err := ParseSchedule(expr); err != nil {
			t.Errorf("%q refused: %v", expr, err)
		}
	}
}

func TestPrune(t *testing.T) {
	b := func(name string, minsAgo int, finished bool) Backup {
		return Backup{Name: name, Started: t0.Add(-time.Duration(minsAgo) * time.Minute), Finished: finished}
	}
	all := []Backup{b("b1", 50, true), b("b2", 40, true), b("b3", 30, true), b("b4", 20, true), b("b5", 10, false)}
	tests := []struct {
		name string
		r    Retention
		want []string
	}{
		{"no limits", Retention{}, nil},
		{"keep 2", Retention{KeepLast: 2}, []string{"b1", "b2"}},
		{"keep 10", Retention{KeepLast: 10}, nil},
		{"max age 35m", Retention{MaxAge: 35 * time.Minute}, []string{"b1", "b2"}},
		{"both: the union", Retention{KeepLast: 3, MaxAge: 45 * time.Minute}, []string{"b1"}},
		{"keep 1 never prunes the running one", Retention{KeepLast: 1}, []string{"b1", "b2", "b3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Prune(all, tt.r, t0); !slices.Equal(got, tt.want) {
				t.Fatalf("Prune = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPickSource(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		want    string
		wantErr error
	}{
		{"most caught-up follower", []Member{
			{Name: "a", Leader: true, Healthy: true, Applied: 10},
			{Name: "b", Healthy: true, Applied: 8}, {Name: "c", Healthy: true, Applied: 9}}, "c", nil},
		{"tie: lower name", []Member{
			{Name: "a", Leader: true, Healthy: true}, {Name: "c", Healthy: true}, {Name: "b", Healthy: true}}, "b", nil},
		{"unhealthy follower and learner skipped", []Member{
			{Name: "a", Leader: true, Healthy: true}, {Name: "b", Healthy: false, Applied: 99},
			{Name: "c", Learner: true, Healthy: true, Applied: 99}}, "a", nil},
		{"nobody healthy", []Member{{Name: "a"}, {Name: "b"}}, "", ErrNoHealthyMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PickSource(tt.members)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("PickSource = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestObjectKey(t *testing.T) {
	for _, tt := range []struct{ prefix, want string }{
		{"", "ns/c1/bk-20261128T100000Z.db"},
		{"backups/", "backups/ns/c1/bk-20261128T100000Z.db"},
		{"/a/b", "a/b/ns/c1/bk-20261128T100000Z.db"},
	} {
		if got := ObjectKey(tt.prefix, "ns", "c1", "bk", t0); got != tt.want {
			t.Errorf("ObjectKey(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}
