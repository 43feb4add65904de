package grpckeepalive

import "testing"

// TestServerAllowsTheClientsPings: a server enforcing a longer minimum
// than the client's interval, or refusing pings without a call in flight
// while the client sends them, answers with GOAWAY too_many_pings and the
// connection churns.
func TestServerAllowsTheClientsPings(t *testing.T) {
	c, s := ClientParameters(), EnforcementPolicy()
	if s.MinTime > c.Time {
		t.Errorf("server minimum ping interval %v exceeds the client's %v", s.MinTime, c.Time)
	}
	if c.PermitWithoutStream && !s.PermitWithoutStream {
		t.Error("client pings idle connections, server forbids it")
	}
	if c.Timeout <= 0 || c.Timeout >= c.Time {
		t.Errorf("ping timeout %v must be positive and below the interval %v", c.Timeout, c.Time)
	}
}
