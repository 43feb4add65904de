package raftctl

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/status"
	"github.com/kuberaft/kuberaft/node/health"
)

// MaxEvents is how many of the cluster's most recent events a report shows.
const MaxEvents = 5

// Report is what `kubectl raft status` shows, and exactly what -o json|yaml
// prints: a stable shape for scripts.
type Report struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Phase is a one-word summary of the conditions (see phaseOf).
	Phase      string            `json:"phase"`
	Paused     bool              `json:"paused"`
	Version    string            `json:"version,omitempty"`
	Leader     string            `json:"leader,omitempty"`
	Term       uint64            `json:"term,omitempty"`
	Conditions []ConditionReport `json:"conditions"`
	// Joint is set while the configuration is in a joint-consensus
	// transition, as the leader (or, when unreachable, the status) says.
	Joint *JointReport `json:"joint,omitempty"`
	// Learners are the members that do not vote yet.
	Learners         []string `json:"learners"`
	FailureTolerance int32    `json:"failureTolerance"`
	// PDBAllowedDisruptions is nil when the PodDisruptionBudget is missing.
	PDBAllowedDisruptions *int32           `json:"pdbAllowedDisruptions,omitempty"`
	Operation             *OperationReport `json:"operation,omitempty"`
	Members               []MemberReport   `json:"members"`
	// Unreachable names every member whose live status could not be read,
	// with why; their rows show the operator's last observation.
	Unreachable []UnreachableReport `json:"unreachable"`
	// Certificates are the TLS Secrets of status.certificates, the soonest
	// to expire first; empty with TLS disabled.
	Certificates []CertificateReport `json:"certificates"`
	// LastBackup is the newest RaftBackup of the cluster, nil when none.
	LastBackup *BackupReport `json:"lastBackup,omitempty"`
	// BackupsError says why the backups could not be read (no RBAC to
	// list RaftBackups); LastBackup is then unknown, not absent.
	BackupsError string        `json:"backupsError,omitempty"`
	Events       []EventReport `json:"events"`
}

// CertificateReport is one TLS Secret's certificate.
type CertificateReport struct {
	Secret string `json:"secret"`
	// NotAfter is nil when the Secret could not be read (Error says why).
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// ExpiresIn is the time left (negative once expired), rounded to the minute.
	ExpiresIn string `json:"expiresIn,omitempty"`
	// Expiring is true within status.ExpiryWarning of NotAfter: the window
	// in which the operator sets CertificatesReady False.
	Expiring bool   `json:"expiring"`
	Error    string `json:"error,omitempty"`
}

// BackupReport is the newest RaftBackup of the cluster.
type BackupReport struct {
	Name    string    `json:"name"`
	Phase   string    `json:"phase"`
	Created time.Time `json:"created"`
	Age     string    `json:"age"`
	// Size is status.size (empty until the file is stored).
	Size     string `json:"size,omitempty"`
	Location string `json:"location,omitempty"`
	Error    string `json:"error,omitempty"`
}

// ConditionReport is one condition of the RaftCluster.
type ConditionReport struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// JointReport describes a joint configuration C_old,new.
type JointReport struct {
	Outgoing []string `json:"outgoingVoters"`
	Incoming []string `json:"incomingVoters"`
}

// OperationReport is the change in flight.
type OperationReport struct {
	Type      string    `json:"type"`
	Step      string    `json:"step"`
	Targets   []string  `json:"targets"`
	StartedAt time.Time `json:"startedAt"`
	Elapsed   string    `json:"elapsed"`
}

// MemberReport is one row of the member table.
type MemberReport struct {
	Pod string `json:"pod"`
	// ID is the raft member ID in hexadecimal, as etcdctl prints it.
	ID     string `json:"id,omitempty"`
	Role   string `json:"role"`
	Leader bool   `json:"leader"`
	// Healthy is the member's own answer, or the operator's last view when
	// the member could not be reached.
	Healthy bool `json:"healthy"`
	// Live is true when the figures come from the member itself now.
	Live     bool   `json:"live"`
	Term     uint64 `json:"term"`
	Commit   uint64 `json:"commitIndex"`
	Applied  uint64 `json:"appliedIndex"`
	Lag      uint64 `json:"lag"`
	Version  string `json:"version,omitempty"`
	Node     string `json:"node,omitempty"`
	Restarts int32  `json:"restarts"`
}

// UnreachableReport is a member whose live status could not be read.
type UnreachableReport struct {
	Pod   string `json:"pod"`
	Error string `json:"error"`
}

// EventReport is one recent event about the cluster.
type EventReport struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
}

// Inputs is everything a report is built from, gathered by a Collector.
type Inputs struct {
	Cluster *raftv1alpha1.RaftCluster
	// Pods are the member pods that exist.
	Pods []corev1.Pod
	// PDB is nil when it does not exist.
	PDB    *policyv1.PodDisruptionBudget
	Events []eventsv1.Event
	// Live are the members' /status answers, by pod name.
	Live map[string]*health.StatusJSON
	// LiveErrors say why a pod's /status could not be read, by pod name.
	LiveErrors map[string]error
	// Backups are the cluster's RaftBackups (spec.cluster is its name).
	Backups []raftv1alpha1.RaftBackup
	// BackupsError is why Backups could not be listed, if they could not.
	BackupsError error
	Now          time.Time
}

// Build turns the inputs into a report. It is pure, so every rendering is
// golden-tested from fixed inputs.
func Build(in Inputs) *Report {
	rc := in.Cluster
	r := &Report{
		Namespace: rc.Namespace, Name: rc.Name, Paused: rc.Spec.Paused, Version: rc.Status.CurrentVersion,
		Leader: rc.Status.Leader, FailureTolerance: rc.Status.FailureTolerance,
		Conditions: []ConditionReport{}, Learners: []string{}, Members: []MemberReport{},
		Unreachable: []UnreachableReport{}, Events: []EventReport{},
		Certificates: certificates(rc.Status.Certificates, in.Now), LastBackup: lastBackup(in.Backups, in.Now),
	}
	for _, c := range rc.Status.Conditions {
		r.Conditions = append(r.Conditions, ConditionReport{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	r.Phase = phaseOf(rc)
	if in.BackupsError != nil {
		r.BackupsError = in.BackupsError.Error()
	}
	if in.PDB != nil {
		d := in.PDB.Status.DisruptionsAllowed
		r.PDBAllowedDisruptions = &d
	}
	if op := rc.Status.Operation; op != nil {
		r.Operation = &OperationReport{Type: string(op.Type), Step: op.Step, Targets: nonNil(op.Targets),
			StartedAt: op.StartedAt.UTC(), Elapsed: in.Now.Sub(op.StartedAt.Time).Round(time.Second).String()}
	}
	leader := liveLeader(in.Live)
	r.Members = memberRows(in, leader)
	names := idNames(r.Members)
	if leader != nil {
		r.Leader, r.Term = leader.Name, leader.Term
		for _, id := range leader.Learners {
			r.Learners = append(r.Learners, names(id))
		}
		if leader.Joint {
			r.Joint = &JointReport{Outgoing: mapIDs(leader.VotersOutgoing, names), Incoming: mapIDs(leader.Voters, names)}
		}
	} else {
		for _, m := range rc.Status.Members {
			if m.Role == raftv1alpha1.RoleLearner {
				r.Learners = append(r.Learners, m.Name)
			}
		}
		if rc.Status.Joint {
			r.Joint = &JointReport{Outgoing: []string{}, Incoming: []string{}}
		}
	}
	slices.Sort(r.Learners)
	for _, pod := range sortedKeys(in.LiveErrors) {
		r.Unreachable = append(r.Unreachable, UnreachableReport{Pod: pod, Error: in.LiveErrors[pod].Error()})
	}
	r.Events = recentEvents(in.Events)
	return r
}

// certificates are the cluster's certificates, soonest expiry first (an
// unreadable Secret, with no expiry, first of all: it needs action now).
func certificates(certs []raftv1alpha1.CertificateStatus, now time.Time) []CertificateReport {
	out := make([]CertificateReport, 0, len(certs))
	for _, c := range certs {
		r := CertificateReport{Secret: c.SecretName, Error: c.Error}
		if !c.NotAfter.IsZero() {
			t := c.NotAfter.UTC()
			left := t.Sub(now)
			r.NotAfter, r.ExpiresIn = &t, left.Round(time.Minute).String()
			r.Expiring = c.Error == "" && left < status.ExpiryWarning
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].NotAfter, out[j].NotAfter
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case !a.Equal(*b):
			return a.Before(*b)
		}
		return out[i].Secret < out[j].Secret
	})
	return out
}

// lastBackup is the newest backup by creation time (name breaks ties).
func lastBackup(backups []raftv1alpha1.RaftBackup, now time.Time) *BackupReport {
	var newest *raftv1alpha1.RaftBackup
	for i := range backups {
		b := &backups[i]
		if newest == nil || b.CreationTimestamp.After(newest.CreationTimestamp.Time) ||
			(b.CreationTimestamp.Equal(&newest.CreationTimestamp) && b.Name > newest.Name) {
			newest = b
		}
	}
	if newest == nil {
		return nil
	}
	phase := string(newest.Status.Phase)
	if phase == "" {
		phase = string(raftv1alpha1.BackupPending)
	}
	return &BackupReport{Name: newest.Name, Phase: phase, Created: newest.CreationTimestamp.UTC(),
		Age: now.Sub(newest.CreationTimestamp.Time).Round(time.Second).String(), Size: newest.Status.Size,
		Location: newest.Status.Location, Error: newest.Status.Error}
}

// phaseOf sums the conditions up in one word: Paused, Degraded,
// Unavailable (no quorum or no leader), Progressing (a change in flight) or
// Healthy. The conditions themselves are shown below it.
func phaseOf(rc *raftv1alpha1.RaftCluster) string {
	is := func(t string) bool {
		c := rc.Condition(t)
		return c != nil && c.Status == "True"
	}
	switch {
	case rc.Spec.Paused:
		return "Paused"
	case !is(raftv1alpha1.ConditionAvailable):
		return "Unavailable"
	case is(raftv1alpha1.ConditionDegraded):
		return "Degraded"
	case is(raftv1alpha1.ConditionProgressing) || rc.Status.Operation != nil:
		return "Progressing"
	}
	return "Healthy"
}

// liveLeader is the live status of the member that says it leads, with
// the highest term when (briefly) two do.
func liveLeader(live map[string]*health.StatusJSON) *health.StatusJSON {
	var best *health.StatusJSON
	for _, pod := range sortedKeys(live) {
		st := live[pod]
		if st.Role == string(raftv1alpha1.RoleLeader) && (best == nil || st.Term > best.Term) {
			best = st
		}
	}
	return best
}

// memberRows is one row per member of the configuration and per member pod
// (a pod being created for a learner is not a member yet), by name.
func memberRows(in Inputs, leader *health.StatusJSON) []MemberReport {
	rows := map[string]*MemberReport{}
	row := func(name string) *MemberReport {
		if rows[name] == nil {
			rows[name] = &MemberReport{Pod: name, Role: "-"}
		}
		return rows[name]
	}
	for _, m := range in.Cluster.Status.Members {
		r := row(m.Name)
		r.ID, r.Role, r.Healthy, r.Term = m.ID, string(m.Role), m.Healthy, uint64(m.Term)
		r.Commit, r.Applied, r.Lag, r.Version = uint64(m.CommitIndex), uint64(m.AppliedIndex), uint64(m.Lag), m.Version
	}
	for _, p := range in.Pods {
		r := row(p.Name)
		r.Node = p.Spec.NodeName
		for _, cs := range p.Status.ContainerStatuses {
			r.Restarts += cs.RestartCount
		}
	}
	for name, st := range in.Live {
		r := row(name)
		r.Live, r.Healthy = true, st.Fenced == ""
		r.ID, r.Role, r.Term, r.Commit, r.Applied = fmt.Sprintf("%x", st.ID), st.Role, st.Term, st.Commit, st.Applied
		if st.Version != "" {
			r.Version = st.Version
		}
		if leader != nil {
			r.Lag = 0
			if leader.Commit > st.Applied {
				r.Lag = leader.Commit - st.Applied
			}
		}
	}
	for _, r := range rows {
		r.Leader = (leader != nil && r.Pod == leader.Name) || (leader == nil && r.Pod == in.Cluster.Status.Leader)
	}
	out := make([]MemberReport, 0, len(rows))
	for _, name := range sortedKeys(rows) {
		out = append(out, *rows[name])
	}
	return out
}

// idNames maps a raft ID to its member's pod name (the hex ID when unknown).
func idNames(rows []MemberReport) func(uint64) string {
	byID := map[string]string{}
	for _, r := range rows {
		byID[r.ID] = r.Pod
	}
	return func(id uint64) string {
		hex := fmt.Sprintf("%x", id)
		if n, ok := byID[hex]; ok {
			return n
		}
		return hex
	}
}

func mapIDs(ids []uint64, name func(uint64) string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, name(id))
	}
	slices.Sort(out)
	return out
}

// recentEvents are the MaxEvents latest events, oldest first.
func recentEvents(evs []eventsv1.Event) []EventReport {
	out := make([]EventReport, 0, len(evs))
	for _, e := range evs {
		t := e.EventTime.Time
		if e.Series != nil {
			t = e.Series.LastObservedTime.Time
		}
		if t.IsZero() {
			t = e.DeprecatedLastTimestamp.Time
		}
		out = append(out, EventReport{Time: t.UTC(), Type: e.Type, Reason: e.Reason, Message: strings.TrimSpace(e.Note)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if len(out) > MaxEvents {
		out = out[len(out)-MaxEvents:]
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
