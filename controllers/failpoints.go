package controllers

import "time"

// Failpoints sit between the non-atomic halves of each change. A crash at
// any of them must converge after a restart with no stranded learner; the
// crash tests in this package make each one panic once.
const (
	// FailpointAfterOperationRecorded: status.operation written, nothing done.
	FailpointAfterOperationRecorded = "afterOperationRecorded"
	// FailpointAfterAddLearners: learners added, StatefulSet not grown.
	FailpointAfterAddLearners = "afterAddLearners"
	// FailpointAfterPromote: learners promoted, status not written.
	FailpointAfterPromote = "afterPromote"
	// FailpointAfterRemove: members removed, StatefulSet not shrunk, PVCs kept.
	FailpointAfterRemove = "afterRemove"
	// FailpointAfterMoveLeader: leadership moved, the next step not taken.
	FailpointAfterMoveLeader = "afterMoveLeader"
	// FailpointAfterDeletePod: mid-upgrade, a pod deleted for its new template.
	FailpointAfterDeletePod = "afterDeletePod"
	// FailpointAfterWipeVolume: a fenced learner's PVC deleted, its pod not.
	FailpointAfterWipeVolume = "afterWipeVolume"
	// FailpointAfterRecoveryRecorded: a recovery Apply recorded in status,
	// the force flags not yet on the template, nothing deleted.
	FailpointAfterRecoveryRecorded = "afterRecoveryRecorded"
	// FailpointAfterRecoveryStepRecorded: a recovery step recorded, not taken.
	FailpointAfterRecoveryStepRecorded = "afterRecoveryStepRecorded"
	// FailpointAfterDiscardedVolumeDeleted: a discarded member's volume
	// deleted, the pod holding it not.
	FailpointAfterDiscardedVolumeDeleted = "afterDiscardedVolumeDeleted"
)

// Failpoints lists every failpoint, for tests that visit them all.
var Failpoints = []string{
	FailpointAfterOperationRecorded, FailpointAfterAddLearners, FailpointAfterPromote, FailpointAfterRemove,
	FailpointAfterMoveLeader, FailpointAfterDeletePod, FailpointAfterWipeVolume,
	FailpointAfterRecoveryRecorded, FailpointAfterRecoveryStepRecorded, FailpointAfterDiscardedVolumeDeleted,
}

func (r *RaftClusterReconciler) failpoint(name string) {
	if r.Failpoint != nil {
		r.Failpoint(name)
	}
}

func (r *RaftClusterReconciler) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
