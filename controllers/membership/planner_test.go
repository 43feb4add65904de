package membership

import (
	"fmt"
	"slices"
	"testing"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// fixture is a healthy, converged cluster "kv" of n voters led by ordinal
// leader, at commit 100, every pod ready and up to date, every member
// reported promotable (caught up) by the leader.
func fixture(n, leader int, mutators ...func(*Observed)) *Observed {
	o := &Observed{Bootstrapped: true, Commit: 100, Pods: map[int]Pod{}, Volumes: map[int]bool{}, StatefulSetReplicas: n}
	for i := range n {
		o.Members = append(o.Members, Member{ID: uint64(i + 1), Name: MemberName("kv", i), Ordinal: i, Healthy: true, Match: 100, Promotable: true})
		o.Pods[i] = Pod{Name: MemberName("kv", i), Ordinal: i, Ready: true, UpToDate: true}
		o.Volumes[i] = true
	}
	o.LeaderID = uint64(leader + 1)
	for _, m := range mutators {
		m(o)
	}
	return o
}

func withLearners(ords ...int) func(*Observed) {
	return func(o *Observed) {
		for _, n := range ords {
			o.Members = append(o.Members, Member{ID: uint64(100 + n), Name: MemberName("kv", n), Ordinal: n, Learner: true, Healthy: true, Match: 100, Promotable: true})
			o.Pods[n] = Pod{Name: MemberName("kv", n), Ordinal: n, Ready: true, UpToDate: true}
			o.Volumes[n] = true
			o.StatefulSetReplicas = max(o.StatefulSetReplicas, n+1)
		}
	}
}

func setMember(ord int, f func(*Member)) func(*Observed) {
	return func(o *Observed) {
		for i := range o.Members {
			if o.Members[i].Ordinal == ord {
				f(&o.Members[i])
			}
		}
	}
}

func setPod(ord int, f func(*Pod)) func(*Observed) {
	return func(o *Observed) {
		p := o.Pods[ord]
		f(&p)
		o.Pods[ord] = p
	}
}

// jointRemoving puts the configuration in the joint state of a change that
// removes ords: they are outgoing voters only, which the node no longer
// lists as members but still counts for leaving the joint configuration.
func jointRemoving(ords ...int) func(*Observed) {
	return func(o *Observed) {
		o.Joint = true
		for _, n := range ords {
			setMember(n, func(m *Member) { m.Outgoing = true })(o)
		}
	}
}

func unhealthy(m *Member) { m.Healthy = false }
func fenced(p *Pod)       { p.Fenced = true }
func outdated(p *Pod)     { p.UpToDate = false }

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		obs      *Observed
		replicas int
		paused   bool
		want     string // Step.String()
		op       raftv1alpha1.OperationType
	}{
		{name: "converged", obs: fixture(3, 0), replicas: 3, want: "None(Reconciled)"},
		{name: "paused", obs: fixture(3, 0), replicas: 5, paused: true, want: "Wait(Paused)"},
		{name: "bootstrapping", obs: fixture(3, 0, func(o *Observed) { o.Bootstrapped = false }), replicas: 3, want: "Wait(Bootstrap)"},
		{name: "no leader", obs: fixture(3, 0, func(o *Observed) { o.LeaderID = 0 }), replicas: 5, want: "Wait(WaitingForQuorum)"},
		{name: "joint in flight", obs: fixture(3, 0, func(o *Observed) { o.Joint = true }), replicas: 5, want: "Wait(WaitingForJointToLeave)"},
		{name: "3→1 while joint waits", obs: fixture(3, 0, jointRemoving(1, 2)), replicas: 1, want: "Wait(WaitingForJointToLeave)"},

		{name: "1→3 adds both learners at once", obs: fixture(1, 0), replicas: 3,
			want: "AddLearners[kv-1,kv-2](AddingLearners)", op: raftv1alpha1.OperationScaleOut},
		{name: "3→5 adds both learners at once", obs: fixture(3, 1), replicas: 5,
			want: "AddLearners[kv-3,kv-4](AddingLearners)", op: raftv1alpha1.OperationScaleOut},
		{name: "3→5 waits for a lagging learner", obs: fixture(3, 1, withLearners(3, 4), setMember(4, func(m *Member) { m.Match, m.Promotable = 50, false })),
			replicas: 5, want: "Wait(WaitingForLearners)", op: raftv1alpha1.OperationScaleOut},
		{name: "3→5 waits for an unreachable learner", obs: fixture(3, 1, withLearners(3, 4), setMember(3, unhealthy)),
			replicas: 5, want: "Wait(WaitingForLearners)", op: raftv1alpha1.OperationScaleOut},
		{name: "3→5 promotes both learners at once", obs: fixture(3, 1, withLearners(3, 4), setMember(4, func(m *Member) { m.Match = 90 })),
			replicas: 5, want: "Promote[kv-3,kv-4](PromotingLearners)", op: raftv1alpha1.OperationScaleOut},
		{name: "stale volume of the ordinal is deleted first", obs: fixture(3, 0, func(o *Observed) { o.Volumes[3] = true }),
			replicas: 4, want: "Wait(WaitingForPods)", op: raftv1alpha1.OperationScaleOut},

		{name: "5→3 removes both victims at once", obs: fixture(5, 0), replicas: 3,
			want: "Remove[kv-3,kv-4](RemovingMembers)", op: raftv1alpha1.OperationScaleIn},
		{name: "5→3 moves leadership off a victim first", obs: fixture(5, 4), replicas: 3,
			want: "MoveLeader[kv-0](MovingLeader)", op: raftv1alpha1.OperationScaleIn},
		{name: "5→3 moves leadership to the most caught-up voter",
			obs: fixture(5, 3, setMember(0, func(m *Member) { m.Match = 95 })), replicas: 3,
			want: "MoveLeader[kv-1](MovingLeader)", op: raftv1alpha1.OperationScaleIn},
		{name: "3→1 removes both at once", obs: fixture(3, 0), replicas: 1,
			want: "Remove[kv-1,kv-2](RemovingMembers)", op: raftv1alpha1.OperationScaleIn},
		{name: "7→3 removes four at once", obs: fixture(7, 0), replicas: 3,
			want: "Remove[kv-3,kv-4,kv-5,kv-6](RemovingMembers)", op: raftv1alpha1.OperationScaleIn},
		{name: "learner victims go in the same change", obs: fixture(5, 0, withLearners(5)), replicas: 3,
			want: "Remove[kv-3,kv-4,kv-5](RemovingMembers)", op: raftv1alpha1.OperationScaleIn},
		{name: "3→1 with the leader at kv-2", obs: fixture(3, 2), replicas: 1,
			want: "MoveLeader[kv-0](MovingLeader)", op: raftv1alpha1.OperationScaleIn},
		{name: "scale-in refused without a healthy quorum after it",
			obs: fixture(5, 0, setMember(1, unhealthy), setMember(2, unhealthy)), replicas: 3,
			want: "Wait(PreflightFailed)", op: raftv1alpha1.OperationScaleIn},
		{name: "a learner beyond replicas (scale-out reverted) is removed", obs: fixture(3, 0, withLearners(3, 4)), replicas: 3,
			want: "Remove[kv-3,kv-4](RemovingMembers)", op: raftv1alpha1.OperationScaleIn},

		{name: "fenced voter is removed", obs: fixture(3, 0, setMember(1, unhealthy), setPod(1, fenced)), replicas: 3,
			want: "Remove[kv-1](ReplacingMember)", op: raftv1alpha1.OperationReplace},
		{name: "fenced voter kept while removal would lose quorum",
			obs: fixture(3, 0, setMember(1, unhealthy), setPod(1, fenced), setMember(2, unhealthy)), replicas: 3,
			want: "Wait(PreflightFailed)", op: raftv1alpha1.OperationReplace},
		{name: "replaced ordinal comes back as a learner, reported as Replace",
			obs: fixture(3, 0, func(o *Observed) {
				o.Members = o.Members[:1:1]
				o.Members = append(o.Members, Member{ID: 3, Name: "kv-2", Ordinal: 2, Healthy: true, Match: 100, Promotable: true})
				o.Operation = &raftv1alpha1.Operation{Type: raftv1alpha1.OperationReplace}
			}), replicas: 3, want: "AddLearners[kv-1](AddingLearners)", op: raftv1alpha1.OperationReplace},
		{name: "fenced learner's volume is wiped", obs: fixture(3, 0, withLearners(3), setMember(3, unhealthy), setPod(3, fenced)),
			replicas: 4, want: "WipeVolume[kv-3](WipingVolume)", op: raftv1alpha1.OperationReplace},

		{name: "upgrade starts with the highest follower", obs: fixture(3, 2, setPod(0, outdated), setPod(1, outdated), setPod(2, outdated)),
			replicas: 3, want: "DeletePod[kv-1](Upgrading)", op: raftv1alpha1.OperationUpgrade},
		{name: "upgrade waits for the restarted member", obs: fixture(3, 2, setPod(0, outdated), setPod(1, func(p *Pod) { p.Ready = false }), setPod(2, outdated)),
			replicas: 3, want: "Wait(WaitingForUpgradedMember)", op: raftv1alpha1.OperationUpgrade},
		{name: "upgrade waits for a pod being deleted", obs: fixture(3, 2, setPod(1, func(p *Pod) { p.Terminating = true }), setPod(2, outdated)),
			replicas: 3, want: "Wait(WaitingForPods)"},
		{name: "upgrade moves leadership off the last outdated member", obs: fixture(3, 2, setPod(2, outdated)),
			replicas: 3, want: "MoveLeader[kv-0](MovingLeader)", op: raftv1alpha1.OperationUpgrade},
		{name: "upgrade refuses to restart a follower without quorum after",
			obs: fixture(3, 0, setPod(2, outdated), setPod(1, outdated), setMember(1, unhealthy)), replicas: 3,
			want: "Wait(PreflightFailed)", op: raftv1alpha1.OperationUpgrade},
		{name: "a single member restarts in place", obs: fixture(1, 0, setPod(0, outdated)),
			replicas: 1, want: "DeletePod[kv-0](Upgrading)", op: raftv1alpha1.OperationUpgrade},
		{name: "two members: the follower restarts when both are healthy", obs: fixture(2, 0, setPod(0, outdated), setPod(1, outdated)),
			replicas: 2, want: "DeletePod[kv-1](Upgrading)", op: raftv1alpha1.OperationUpgrade},
		{name: "two members: not while one is unhealthy", obs: fixture(2, 0, setPod(0, outdated), setPod(1, outdated), setMember(1, unhealthy)),
			replicas: 2, want: "Wait(PreflightFailed)", op: raftv1alpha1.OperationUpgrade},
		{name: "membership before upgrade", obs: fixture(3, 0, setPod(2, outdated)), replicas: 5,
			want: "AddLearners[kv-3,kv-4](AddingLearners)", op: raftv1alpha1.OperationScaleOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Next(tc.obs, Spec{Replicas: tc.replicas, Paused: tc.paused, Name: "kv"})
			if got.String() != tc.want || got.Operation != tc.op {
				t.Errorf("Next = %s (op %q, %q), want %s (op %q)", got, got.Operation, got.Message, tc.want, tc.op)
			}
		})
	}
}

func TestStatefulSetReplicas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		obs      *Observed
		recorded int
		want     int
	}{
		{"bootstrap uses the recorded size", fixture(3, 0, func(o *Observed) { o.Bootstrapped = false }), 3, 3},
		{"learners get pods", fixture(3, 0, withLearners(3, 4), func(o *Observed) { o.StatefulSetReplicas = 3 }), 3, 5},
		{"removed members lose theirs", fixture(3, 0, func(o *Observed) { o.Members = o.Members[:1]; o.StatefulSetReplicas = 3 }), 3, 1},
		{"a gap keeps the higher ordinal", fixture(3, 0, func(o *Observed) { o.Members = append(o.Members[:1], o.Members[2]) }), 3, 3},
		{"unknown membership keeps the size", fixture(3, 0, func(o *Observed) { o.LeaderID = 0; o.StatefulSetReplicas = 5 }), 3, 5},
		{"3→1 while joint keeps the outgoing voters' pods", fixture(3, 0, jointRemoving(1, 2)), 3, 3},
		{"3→1 while joint, outgoing voters unnamed: the size holds",
			fixture(3, 0, func(o *Observed) { o.Members = o.Members[:1]; o.Joint = true }), 3, 3},
		{"unknown membership, no StatefulSet: recorded", fixture(3, 0, func(o *Observed) { o.LeaderID = 0; o.StatefulSetReplicas = 0 }), 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatefulSetReplicas(tc.obs, tc.recorded); got != tc.want {
				t.Errorf("StatefulSetReplicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOrphanVolumes(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  *Observed
		sts  int
		want string
	}{
		{"none", fixture(3, 0), 3, "[]"},
		{"after scale-in", fixture(1, 0, func(o *Observed) { o.Volumes[1], o.Volumes[2] = true, true }), 1, "[1 2]"},
		{"a learner's volume is kept", fixture(3, 0, withLearners(3)), 4, "[]"},
		{"nothing while joint (3→1, outgoing voters unlisted)",
			fixture(3, 0, func(o *Observed) { o.Members = o.Members[:1]; o.Joint = true }), 1, "[]"},
		{"nothing while membership is unknown", fixture(1, 0, func(o *Observed) { o.LeaderID = 0; o.Volumes[2] = true }), 1, "[]"},
		{"nothing before bootstrap", fixture(1, 0, func(o *Observed) { o.Bootstrapped = false; o.Volumes[2] = true }), 1, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(OrphanVolumes(tc.obs, tc.sts)); got != tc.want {
				t.Errorf("OrphanVolumes = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestOrdinal(t *testing.T) {
	for name, want := range map[string]int{"kv-0": 0, "kv-12": 12, "kv-": -1, "kv-01": -1, "kv-x": -1, "other-1": -1, "kv-1-2": -1, "kv--1": -1} {
		if got := Ordinal("kv", name); got != want {
			t.Errorf("Ordinal(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestFailureTolerance(t *testing.T) {
	for _, tc := range []struct {
		obs  *Observed
		want int
	}{
		{fixture(1, 0), 0}, {fixture(3, 0), 1}, {fixture(5, 0), 2}, {fixture(4, 0), 1},
		{fixture(5, 0, setMember(1, unhealthy)), 1}, {fixture(3, 0, setMember(1, unhealthy), setMember(2, unhealthy)), 0},
		{fixture(3, 0, withLearners(3, 4)), 1},
	} {
		if got := tc.obs.FailureTolerance(); got != tc.want {
			t.Errorf("FailureTolerance(%d members) = %d, want %d", len(tc.obs.Members), got, tc.want)
		}
	}
}

// TestNextHealsHalfDoneSteps: the state a crashed loop leaves between the
// two halves of each change, and what the next loop does about it.
func TestNextHealsHalfDoneSteps(t *testing.T) {
	noPods := func(ords ...int) func(*Observed) {
		return func(o *Observed) {
			for _, n := range ords {
				delete(o.Pods, n)
				delete(o.Volumes, n)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		obs      *Observed
		replicas int
		want     string
		sts      int   // StatefulSetReplicas the next loop applies
		orphans  []int // volumes the next loop deletes
	}{
		{name: "learners added, StatefulSet not grown",
			obs:      fixture(3, 0, withLearners(3, 4), noPods(3, 4), setMember(3, unhealthy), setMember(4, unhealthy), func(o *Observed) { o.StatefulSetReplicas = 3 }),
			replicas: 5, want: "Wait(WaitingForLearners)", sts: 5},
		{name: "promoted, status not written", obs: fixture(5, 0), replicas: 5, want: "None(Reconciled)", sts: 5},
		{name: "removed, StatefulSet not shrunk",
			obs:      fixture(3, 0, func(o *Observed) { o.StatefulSetReplicas = 5; o.Volumes[3], o.Volumes[4] = true, true }),
			replicas: 3, want: "None(Reconciled)", sts: 3, orphans: []int{3, 4}},
		{name: "leadership moved, victims not removed yet", obs: fixture(5, 0), replicas: 3, want: "Remove[kv-3,kv-4](RemovingMembers)", sts: 5},
		{name: "mid-upgrade: a deleted pod not back yet", obs: fixture(3, 0, setPod(1, outdated), noPods(2)), replicas: 3, want: "Wait(WaitingForPods)", sts: 3},
		{name: "fenced voter removed, not re-added yet", obs: fixture(3, 0, func(o *Observed) {
			o.Members = slices.DeleteFunc(o.Members, func(m Member) bool { return m.Ordinal == 1 })
			o.Operation = &raftv1alpha1.Operation{Type: raftv1alpha1.OperationReplace}
		}), replicas: 3, want: "AddLearners[kv-1](AddingLearners)", sts: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Next(tc.obs, Spec{Replicas: tc.replicas, Name: "kv"}); got.String() != tc.want {
				t.Errorf("Next = %s (%s), want %s", got, got.Message, tc.want)
			}
			sts := StatefulSetReplicas(tc.obs, tc.replicas)
			if sts != tc.sts {
				t.Errorf("StatefulSetReplicas = %d, want %d", sts, tc.sts)
			}
			if got := OrphanVolumes(tc.obs, sts); fmt.Sprint(got) != fmt.Sprint(tc.orphans) && !(len(got) == 0 && len(tc.orphans) == 0) {
				t.Errorf("OrphanVolumes = %v, want %v", got, tc.orphans)
			}
		})
	}
}
