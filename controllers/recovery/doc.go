// Package recovery is the operator side of quorum-loss recovery: it
// observes a RaftCluster's voters (raft positions from status, volumes
// from their PVCs), keeps the last commit index seen while healthy, and
// reports quorum loss and, with spec.recovery.mode Preview or Apply, the
// plan computed by controllers/recovery/planner in status.recovery.
// Preview changes nothing. Apply is carried out by the RaftCluster
// reconciler (controllers/recovery.go), which owns status.recovery.apply;
// while a plan is applied, this reconciler keeps showing that plan.
package recovery
