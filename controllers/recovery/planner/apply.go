package planner

import "fmt"

// StepKind is one action of an Apply.
type StepKind string

// Steps, in the order Next returns them.
const (
	// Cancel: quorum came back before anything destructive; stop.
	Cancel StepKind = "Cancel"
	// DeleteVolume deletes a discarded member's volume as recorded when
	// the Apply started, then its pod (a volume in use is only deleted
	// once no pod holds it; the StatefulSet then recreates the pod on a
	// fresh, empty volume).
	DeleteVolume StepKind = "DeleteVolume"
	// DeletePod deletes a discarded member's pod that still holds its
	// deleted volume (the second half of DeleteVolume, after a crash).
	DeletePod StepKind = "DeletePod"
	// ForceSurvivor restarts the survivor's pod on the template that
	// carries --force-new-cluster with --force-new-cluster-id=<plan ID>
	// (one-shot per ID on the node).
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
	// Survivor and Discarded are the plan being applied.
	Survivor  string
	Discarded []string
	// OldVolumes: discarded members whose volume, as recorded when the
	// Apply started, still exists and is not being deleted.
	OldVolumes map[string]bool
	// OldPods: discarded members that still have a pod that may hold the
	// old volume (recorded when the Apply started, or running since before
	// the volume's deletion).
	OldPods map[string]bool
	// Started: a step of this Apply was already recorded, so something
	// may have been deleted; it can no longer be cancelled.
	Started bool
	// QuorumBack: a majority of the old voters is reachable again.
	QuorumBack bool
	// SurvivorForced: the survivor's pod runs the template that carries
	// the plan's force flags.
	SurvivorForced bool
	// SurvivorLeads: a leader is known again. Before the survivor is
	// forced none can be (quorum is lost and the discarded volumes are
	// gone), so it is the survivor's new cluster, alone or grown.
	SurvivorLeads bool
	// HealthyVoters and Replicas: progress of the grow-back.
	HealthyVoters, Replicas int
}

// Next is the one next step of an Apply. It is stateless: every decision
// comes from what was observed (and the Apply record in status), so after
// a crash the controller re-observes and Next returns the step that was
// interrupted (or the one after it).
func Next(o ApplyObserved) Step {
	if o.QuorumBack && !o.Started {
		// etcd-operator's guard: the lost members came back before we
		// deleted anything, so recovery is no longer needed.
		return Step{Kind: Cancel}
	}
	// The discarded volumes go first: once the survivor forms a new
	// cluster, nothing of the old one may come back and vote.
	for _, name := range o.Discarded {
		if o.OldVolumes[name] {
			return Step{Kind: DeleteVolume, Member: name}
		}
		if o.OldPods[name] {
			return Step{Kind: DeletePod, Member: name}
		}
	}
	switch {
	case !o.SurvivorForced:
		return Step{Kind: ForceSurvivor, Member: o.Survivor}
	case !o.SurvivorLeads:
		return Step{Kind: WaitSurvivor, Member: o.Survivor}
	case o.HealthyVoters < o.Replicas:
		return Step{Kind: GrowBack}
	}
	return Step{Kind: Done}
}
