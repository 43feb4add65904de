// Package policy holds the pure decisions of backups: when a schedule is
// due, which backups retention prunes, which member a backup is taken
// from, and where its file goes. No Kubernetes client here; the backup
// controller observes, calls these, and acts.
//
// Cron parsing is github.com/robfig/cron/v3 (ParseStandard: the five
// fields and @daily-style descriptors of a Kubernetes CronJob, with an
// optional CRON_TZ= prefix) rather than a hand-written parser: it is the
// version Kubernetes itself requires and what etcd-backup-restore uses.
package policy
