// Package memberplan plans membership changes: from a View of the applied
// configuration and the leader's view of its followers, Build checks a
// ChangeMembers request and turns it into one raft ConfChangeV2 (a Plan),
// or refuses it with etcd's error. It is pure — no raft, no I/O — and
// table-tested, as etcd-io/raft keeps confchange/ apart from the driver.
//
// The rules, each defined here once:
//   - an add needs peer URLs the transport can dial (ValidatePeerURL), a
//     free name and free URLs; a repeated add is a no-op (a retry);
//   - a learner is promoted when it does not refuse the leader's appends
//     and its Match is at least promoteThreshold (90 %) of the leader's;
//   - the leader is never removed or demoted (move leadership first);
//   - at most View.MaxLearners learners;
//   - the healthy voters of the new configuration form a quorum (etcd's
//     --strict-reconfig-check).
//
// node/raftnode runs one plan at a time on the leader and re-plans after a
// timeout; Applied tells whether a plan is in effect.
package memberplan
