package restore

import (
	"encoding/json"
	"fmt"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Source is a resolved restore source: where the file is and what it
// must hash to ("" when neither the RaftBackup nor the spec says).
type Source struct {
	Destination raftv1alpha1.BackupDestination
	Key         string
	SHA256      string
}

// JobState is what the fetch Job tells.
type JobState struct {
	Exists, Succeeded, Failed bool
	// Message is the Job container's termination message: fetch's JSON
	// description of the placed file, or its error.
	Message string
}

// Observed is what one loop saw of a restore.
type Observed struct {
	// Spec is spec.bootstrap.restore (non-nil).
	Spec *raftv1alpha1.RestoreSource
	// Bootstrapped: the bootstrap record exists, so the fetch finished
	// (or the cluster runs and a restore must never touch it again).
	Bootstrapped bool
	// Formed: the seeded member formed the cluster (the record says
	// "existing").
	Formed bool
	// Backup is the named RaftBackup, nil when absent or not named.
	Backup *raftv1alpha1.RaftBackup
	// ClaimExists: the first member's PVC exists.
	ClaimExists bool
	Job         JobState
}

// Action is the step Next chose.
type Action string

// Actions.
const (
	// Done: the restore finished; nothing to do.
	Done Action = "Done"
	// Wait: look again later (the backup is not complete, the Job runs).
	Wait Action = "Wait"
	// CreateClaim creates the first member's PVC.
	CreateClaim Action = "CreateClaim"
	// CreateJob creates the fetch Job.
	CreateJob Action = "CreateJob"
	// Seed: the file is in place and verified; record the one-member
	// bootstrap.
	Seed Action = "Seed"
	// Fail: the restore cannot go on without a person.
	Fail Action = "Fail"
)

// Step is Next's answer: the action, the Restored condition's reason and
// message, and the source when it is known.
type Step struct {
	Action  Action
	Reason  string
	Message string
	Source  Source
	// Fetched is the placed file's description (Seed only).
	Fetched Fetched
}

// Fetched is the part of `raftnode backup fetch`'s result the operator
// reports.
type Fetched struct {
	AppliedIndex uint64
	Revision     int64
	SHA256       string
	Location     string `json:"location"`
}

// Next decides the restore's next step. Preconditions are checked in the
// order a restore meets them, so each Wait or Fail names the first thing
// missing.
func Next(o Observed) Step {
	switch {
	case o.Formed:
		return Step{Action: Done, Reason: raftv1alpha1.ReasonRestoreSeeded,
			Message: "the first member was seeded from the snapshot and leads a new cluster; the others join as learners"}
	case o.Bootstrapped:
		return Step{Action: Done, Reason: raftv1alpha1.ReasonRestoreSeeding,
			Message: "the first member starts from the verified snapshot"}
	}
	src, step, ok := resolve(o)
	if !ok {
		return step
	}
	switch {
	case !o.ClaimExists:
		return Step{Action: CreateClaim, Reason: raftv1alpha1.ReasonRestoreFetching, Message: "creating the first member's volume", Source: src}
	case !o.Job.Exists:
		return Step{Action: CreateJob, Reason: raftv1alpha1.ReasonRestoreFetching, Message: "starting the fetch Job", Source: src}
	case o.Job.Failed:
		return Step{Action: Fail, Reason: raftv1alpha1.ReasonRestoreFailed, Source: src,
			Message: fmt.Sprintf("the fetch Job failed: %s (delete the Job to retry)", orUnknown(o.Job.Message))}
	case !o.Job.Succeeded:
		return Step{Action: Wait, Reason: raftv1alpha1.ReasonRestoreFetching, Message: "the fetch Job reads and verifies the snapshot", Source: src}
	}
	var f Fetched
	if err := json.Unmarshal([]byte(o.Job.Message), &f); err != nil || f.SHA256 == "" {
		return Step{Action: Fail, Reason: raftv1alpha1.ReasonRestoreFailed, Source: src,
			Message: fmt.Sprintf("the fetch Job reported no description of the file (%q); delete the Job to retry", o.Job.Message)}
	}
	if src.SHA256 != "" && f.SHA256 != src.SHA256 {
		// fetch refuses a mismatch itself; a second check costs nothing and
		// does not depend on the node image's version.
		return Step{Action: Fail, Reason: raftv1alpha1.ReasonRestoreFailed, Source: src,
			Message: fmt.Sprintf("the fetched file has sha256 %s, want %s", f.SHA256, src.SHA256)}
	}
	return Step{Action: Seed, Reason: raftv1alpha1.ReasonRestoreFetching, Source: src, Fetched: f,
		Message: fmt.Sprintf("verified %s (sha256 %s, applied index %d, revision %d); seeding the first member", f.Location, f.SHA256, f.AppliedIndex, f.Revision)}
}

// resolve finds the file: a Completed RaftBackup, or the spec's
// destination and key. ok is false when step (a Wait or Fail) applies.
func resolve(o Observed) (src Source, step Step, ok bool) {
	spec := o.Spec
	if spec.Backup == "" {
		return Source{Destination: *spec.Destination, Key: spec.Key, SHA256: spec.SHA256}, Step{}, true
	}
	b := o.Backup
	switch {
	case b == nil:
		return Source{}, Step{Action: Wait, Reason: raftv1alpha1.ReasonRestoreWaitingForBackup,
			Message: fmt.Sprintf("RaftBackup %q not found", spec.Backup)}, false
	case b.Status.Phase == raftv1alpha1.BackupFailed:
		return Source{}, Step{Action: Fail, Reason: raftv1alpha1.ReasonRestoreSourceInvalid,
			Message: fmt.Sprintf("RaftBackup %q failed: %s", spec.Backup, orUnknown(b.Status.Error))}, false
	case b.Status.Phase != raftv1alpha1.BackupCompleted:
		return Source{}, Step{Action: Wait, Reason: raftv1alpha1.ReasonRestoreWaitingForBackup,
			Message: fmt.Sprintf("RaftBackup %q is %s, not Completed", spec.Backup, orUnknown(string(b.Status.Phase)))}, false
	case spec.SHA256 != "" && spec.SHA256 != b.Status.SHA256:
		return Source{}, Step{Action: Fail, Reason: raftv1alpha1.ReasonRestoreSourceInvalid,
			Message: fmt.Sprintf("RaftBackup %q has sha256 %s, spec.bootstrap.restore.sha256 says %s", spec.Backup, b.Status.SHA256, spec.SHA256)}, false
	}
	return Source{Destination: b.Spec.Destination, Key: b.Status.Key, SHA256: b.Status.SHA256}, Step{}, true
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
