// Package planner plans the way out of quorum loss: pure functions from
// what the operator observed to a plan (Preview) and, while the plan is
// applied, to the one next step (Apply). It performs nothing itself; the
// controller executes the steps and re-observes, so a crash anywhere
// simply re-derives the same next step (crash-resumable by construction).
//
// The plan follows the prior art (CockroachDB `debug recover make-plan` /
// `apply-plan`, EDB `pgd raft restore --preview`, etcd-operator's
// recover-quorum-from): never automatic, previewed with an estimate of
// what is lost, applied only against the exact plan ID the user saw, and
// cancelled when quorum comes back before anything destructive happened.
//
// Dependency direction: this package imports nothing of the operator's.
package planner
