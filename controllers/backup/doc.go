// Package backup takes RaftBackups: it streams a member's snapshot
// (Take), verifies it and stores it through controllers/backup/store; the
// pure decisions (schedule, retention, source member, object key) live in
// controllers/backup/policy.
package backup
