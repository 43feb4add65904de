package membership

import (
	"fmt"
	"slices"
)

// PreflightRemove returns why removing victims in one change would risk
// quorum, or "" when it is safe. A joint change commits only with a
// majority of both the old and the new voters, so both must have a healthy
// majority; the new configuration must keep at least one voter.
func PreflightRemove(o *Observed, victims []Member) string {
	old := o.Voters()
	next := slices.DeleteFunc(slices.Clone(old), func(m Member) bool { return containsID(victims, m.ID) })
	if len(next) == 0 {
		return "refusing to remove every voter"
	}
	if msg := preflightQuorum(old, "the current configuration"); msg != "" {
		return msg
	}
	return preflightQuorum(next, "the configuration after removing "+names(victims))
}

// PreflightPromote returns why promoting learners would risk quorum, or "".
func PreflightPromote(o *Observed, learners []Member) string {
	old := o.Voters()
	if msg := preflightQuorum(old, "the current configuration"); msg != "" {
		return msg
	}
	return preflightQuorum(append(slices.Clone(old), learners...), "the configuration after promoting "+names(learners))
}

// PreflightDown returns why taking member m down (restarting its pod) would
// lose quorum, or "": the other voters must hold a healthy majority of all.
// A cluster of one or two voters has no failure tolerance at all: it can
// only be restarted with a short unavailability (never a loss of data: the
// log is on the volume), so there every voter must be healthy instead.
func PreflightDown(o *Observed, m Member) string {
	voters := o.Voters()
	if len(voters) <= 2 {
		if h := countHealthy(voters); h < len(voters) {
			return fmt.Sprintf("restarting %s needs all %d voters healthy, %d are", m.Name, len(voters), h)
		}
		return ""
	}
	others := slices.DeleteFunc(slices.Clone(voters), func(v Member) bool { return v.ID == m.ID })
	if h, q := countHealthy(others), Quorum(len(voters)); h < q {
		return fmt.Sprintf("restarting %s would leave %d healthy voters of the %d a quorum needs", m.Name, h, q)
	}
	return ""
}

func preflightQuorum(voters []Member, what string) string {
	if h, q := countHealthy(voters), Quorum(len(voters)); h < q {
		return fmt.Sprintf("%s has %d healthy voters of the %d a quorum needs", what, h, q)
	}
	return ""
}

// Transferee picks the voter to hand leadership to: healthy, caught up, not
// in exclude, not the leader; the most replicated, then the lowest ordinal.
func Transferee(o *Observed, exclude []Member) (Member, bool) {
	var best Member
	found := false
	for _, m := range o.Voters() {
		if m.ID == o.LeaderID || containsID(exclude, m.ID) || !o.CaughtUp(m) {
			continue
		}
		if !found || m.Match > best.Match || (m.Match == best.Match && m.Ordinal < best.Ordinal) {
			best, found = m, true
		}
	}
	return best, found
}
