package raftnode

import (
	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
)

// raftLogger adapts zap to raft.Logger (zap spells Warning "Warn").
type raftLogger struct{ *zap.SugaredLogger }

func newRaftLogger(lg *zap.Logger) raft.Logger {
	return raftLogger{lg.WithOptions(zap.AddCallerSkip(1)).Named("raft").Sugar()}
}

func (l raftLogger) Warning(v ...any)                 { l.Warn(v...) }
func (l raftLogger) Warningf(format string, v ...any) { l.Warnf(format, v...) }
