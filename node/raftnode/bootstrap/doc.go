// Package bootstrap holds how a kuberaft member comes to run: the IDs of
// the initial cluster (MemberID, ClusterID), parsing --initial-cluster and
// the bootstrap peers (InitialMembers), asking the peers for the member
// list (Ask, AskOnce), and the fencing rules that keep a member from
// running when its data dir or the cluster forbid it (CheckJoin,
// CheckDataDir, CheckInitialCluster, CheckPeersAnswer). Its functions are
// pure or talk only through an Asker, so each rule is tested alone.
//
// node/raftnode's start.go wires them: bootstrap a new cluster, join an
// existing one with an empty data dir, or restart from the data dir — and,
// on every start, learn the peers (issue 8 item 9).
package bootstrap
