package planner

import "fmt"

// StepKind is one action of an Apply.
type StepKind string

// Steps, in the order Next returns them.
const (
	// Cancel: quorum came back before anything destructive; stop.
	Cancel StepKind = "Cancel"
	// DeletePod removes a discarded member's pod (before its volume: a
	// volume in use is not deleted).
	DeletePod StepKind = "DeletePod"
	// DeleteVolume removes a discarded member's volume.
	DeleteVolume StepKind = "DeleteVolume"
	// ForceSurvivor restarts the survivor with --force-new-cluster and
	// --force-new-cluster-id=<plan ID> (one-shot per ID on the node).
	ForceSurvivor StepKind = "ForceSurvivor"
	// WaitSurvivor waits for the survivor to lead its new cluster alone.
	WaitSurvivor StepKind = "WaitSurvivor"
	// GrowBack hands over to the regular membership reconciler, which adds
	// fresh members as learners and promotes them up to spec.replicas.
	GrowBack StepKind = "GrowBack"
	// Done: the cluster has spec.replicas healthy voters again.
	Done StepKind = "Done"
)

// Step is the next action and the member it concerns.
type Step struct {
	Kind   StepKind
	Member string
}

func (s Step) String() string {
	if s.Member == "" {
		return string(s.Kind)
	}
	return fmt.Sprintf("%s(%s)", s.Kind, s.Member)
}

// ApplyObserved is what the controller observes on each loop of an Apply.
type ApplyObserved struct {
	Plan Plan
	// Pods and Volumes tell which members still have a pod / a volume.
	Pods, Volumes map[string]bool
	// QuorumBack: a majority of the old voters is reachable again.
	QuorumBack bool
	// SurvivorForced: the survivor's pod runs with the plan's force ID.
	SurvivorForced bool
	// SurvivorLeadsAlone: the survivor leads a new cluster ID in which it
	// is the only voter, or a grown one (it stays true once reached).
	SurvivorLeadsAlone bool
	// HealthyVoters and Replicas: progress of the grow-back.
	HealthyVoters, Replicas int
}

// Next is the one next step of an Apply. It is stateless: every decision
// comes from what was observed, so after a crash the controller re-observes
// and Next returns the step that was interrupted (or the one after it).
func Next(o ApplyObserved) Step {
	if o.QuorumBack && !destructiveStarted(o) {
		// etcd-operator's guard: the lost members came back before we
		// deleted anything, so recovery is no longer needed.
		return Step{Kind: Cancel}
	}
	for _, name := range o.Plan.Discarded {
		if o.Pods[name] {
			return Step{Kind: DeletePod, Member: name}
		}
		if o.Volumes[name] {
			return Step{Kind: DeleteVolume, Member: name}
		}
	}
	survivor := o.Plan.Survivor.Name
	switch {
	case !o.SurvivorForced:
		return Step{Kind: ForceSurvivor, Member: survivor}
	case !o.SurvivorLeadsAlone:
		return Step{Kind: WaitSurvivor, Member: survivor}
	case o.HealthyVoters < o.Replicas:
		return Step{Kind: GrowBack}
	}
	return Step{Kind: Done}
}

// destructiveStarted: some discarded member lost its pod or volume, or
// the survivor was already forced; from then on the plan runs to the end.
func destructiveStarted(o ApplyObserved) bool {
	if o.SurvivorForced {
		return true
	}
	for _, name := range o.Plan.Discarded {
		if !o.Pods[name] || !o.Volumes[name] {
			return true
		}
	}
	return false
}
