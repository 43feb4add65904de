// Package raftctl is `kubectl raft`: it collects a RaftCluster's status
// (with its certificates), its pods, PodDisruptionBudget, events and
// RaftBackups and every member's live
// /status (through the API server's pod proxy, so it works from a laptop),
// renders them as one screen or as JSON/YAML, and turns the Day-2 commands
// (move-leader, restart, pause, resume) into annotations or spec changes
// that the operator carries out through its own safety checks; backup
// creates a RaftBackup for the operator's backup controller. It never
// changes raft membership or takes snapshots itself.
//
// Dependency direction: raftctl reads api/v1alpha1, controllers/specs
// (names, labels, ports), controllers/status (the certificate warning
// window) and node/health (the /status shape); nothing
// imports raftctl but cmd/kubectl-raft.
package raftctl
