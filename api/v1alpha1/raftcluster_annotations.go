package v1alpha1

// Annotations on a RaftCluster that ask the operator for a one-off action.
// They are requests, not desired state: the operator carries each out only
// through its own safety checks (leader known, no change in flight, quorum
// kept), then removes the annotation. `kubectl raft` sets them.
const (
	// AnnotationMoveLeader asks for leadership to move to the member (pod)
	// named by its value, or, when the value is empty, to the most
	// up-to-date healthy voter that is not the leader.
	AnnotationMoveLeader = "raft.kuberaft.io/move-leader"
	// AnnotationRestart asks for the member pod named by its value to be
	// restarted (deleted; the StatefulSet recreates it), moving leadership
	// off it first and only while the other voters keep a quorum.
	AnnotationRestart = "raft.kuberaft.io/restart"
)

// AnnotationRotateCA asks for the managed CA (spec.tls.mode Managed) to
// be rotated now rather than when it is due: any new value starts one
// rotation (a timestamp is a good value; `kubectl annotate --overwrite`).
// The rotation is the scheduled one: a new CA trusted next to the old for
// the operator's --ca-rotation-overlap, then every leaf re-issued from it
// (new keys), then the old CA dropped after another overlap; members
// reload the files without a restart. Unlike the requests above, the
// annotation stays: the value last served is recorded on the CA Secret
// (raft.kuberaft.io/ca-rotation-served), so it is never served twice. A
// request made during a rotation starts the next one after it.
const AnnotationRotateCA = "raft.kuberaft.io/rotate-ca"

// ReasonRestartingMember is the Progressing reason while the operator
// restarts a member on request (AnnotationRestart).
const ReasonRestartingMember = "RestartingMember"

// AnnotationTestHoldBefore is a test hook, honoured only by an operator
// started with --enable-test-holds (the e2e suite's): while it is set, the
// operator records the operation and step named by its value (e.g. Promote)
// in status, then holds before acting on it, so tests can observe a step
// that otherwise lasts milliseconds. Removing it releases the hold.
const AnnotationTestHoldBefore = "raft.kuberaft.io/test-hold-before"

// ReasonTestHold is the Progressing reason while a test hold is in effect.
const ReasonTestHold = "TestHold"
