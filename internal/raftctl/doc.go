// Package raftctl is `kubectl raft`: it collects a RaftCluster's status,
// its pods, PodDisruptionBudget and events and every member's live
// /status (through the API server's pod proxy, so it works from a laptop),
// renders them as one screen or as JSON/YAML, and turns the Day-2 commands
// (move-leader, restart, pause, resume) into annotations or spec changes
// that the operator carries out through its own safety checks. It never
// changes raft membership itself.
//
// Dependency direction: raftctl reads api/v1alpha1, controllers/specs
// (names, labels, ports) and node/health (the /status shape); nothing
// imports raftctl but cmd/kubectl-raft.
package raftctl
