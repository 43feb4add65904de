package raftnode

import (
	"go.etcd.io/raft/v3"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/metrics"
	"github.com/kuberaft/kuberaft/node/storage"
)

// metricsView is what Prometheus samples on each scrape (see
// metrics.View): cheap reads of raft's status and the conf state, and one
// walk of the data dir.
func (n *Node) metricsView() metrics.View {
	v := metrics.View{Joint: n.isJoint(), LearnerLag: map[uint64]uint64{}, DBSizeBytes: -1}
	st := n.raft.Status()
	if st.RaftState == raft.StateLeader {
		for id, pr := range st.Progress {
			if pr.IsLearner {
				v.LearnerLag[id] = 0
				if st.GetCommit() > pr.Match {
					v.LearnerLag[id] = st.GetCommit() - pr.Match
				}
			}
		}
	}
	if size, err := storage.DiskSize(n.cfg.DataDir); err == nil {
		v.DBSizeBytes = size
	} else {
		n.lg.Debug("Measuring data dir failed", zap.Error(err))
	}
	return v
}
