package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// ensureObjects creates or updates the bootstrap ConfigMap, the Services,
// the StatefulSet (sized from the membership) and the PDB. The ConfigMap
// goes first: a pod the StatefulSet creates must find itself in it.
func (r *RaftClusterReconciler) ensureObjects(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	if s.rc.Spec.Paused {
		return reconcile.Result{}, nil
	}
	recorded, res, err := r.ensureBootstrapConfig(ctx, s)
	if err != nil || !res.IsZero() {
		return res, err
	}
	for _, svc := range []*corev1.Service{specs.PeerService(s.rc), specs.ClientService(s.rc), specs.LeaderService(s.rc)} {
		if err := r.ensureService(ctx, s, svc); err != nil {
			return reconcile.Result{}, err
		}
	}
	s.stsReplicas = membership.StatefulSetReplicas(&s.obs, recorded)
	if err := r.ensureStatefulSet(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	voters := recorded
	if s.obs.LeaderID != 0 {
		voters = len(s.obs.Voters())
	}
	return reconcile.Result{}, r.ensurePDB(ctx, s, voters)
}

// ensureBootstrapConfig keeps the bootstrap ConfigMap current and returns
// the bootstrap size (the number of members that start as "new").
//
// Never two clusters: the ConfigMap is created as "new" only when nothing
// of the cluster exists yet (no StatefulSet, no volume, no answering node);
// its member list is then fixed until those members formed the cluster,
// when it flips to "existing" for good. Afterwards it lists the current
// members (learners included), which a starting node contacts to find its
// member ID.
func (r *RaftClusterReconciler) ensureBootstrapConfig(ctx context.Context, s *reconcileState) (int, reconcile.Result, error) {
	names := r.memberNames(s)
	var desired *corev1.ConfigMap
	switch {
	case s.bootstrap == nil && s.sts == nil && (len(s.pvcs) == 0 || s.restoreSeeded) && len(s.statuses) == 0:
		// A restore created the first member's volume itself and put the
		// verified snapshot on it (ensureRestore): that one volume is
		// expected.
		initial := bootstrapMembers(s)
		desired = specs.BootstrapConfigMap(s.rc, r.Specs, initial, specs.StateNew)
		r.event(s, corev1.EventTypeNormal, "Bootstrap", "Bootstrapping a cluster of %s", strings.Join(initial, ","))
	case s.bootstrap == nil && s.leader == nil:
		// The record is gone but the cluster's remains are not: recreating
		// it as "new" could start a second cluster. Wait for a leader.
		return 0, reconcile.Result{RequeueAfter: WaitingRequeue}, nil
	case s.bootstrap == nil:
		desired = specs.BootstrapConfigMap(s.rc, r.Specs, names, specs.StateExisting)
	case s.bootstrap.Data[specs.KeyInitialClusterState] == specs.StateNew && bootstrapFormed(s):
		desired = specs.BootstrapConfigMap(s.rc, r.Specs, names, specs.StateExisting)
		r.event(s, corev1.EventTypeNormal, "Bootstrapped", "The bootstrap members formed the cluster")
	case s.bootstrap.Data[specs.KeyInitialClusterState] == specs.StateExisting && s.leader != nil:
		desired = specs.BootstrapConfigMap(s.rc, r.Specs, names, specs.StateExisting)
	default:
		return bootstrapSize(s.rc.Name, s.bootstrap), reconcile.Result{}, nil
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		if err := s.claim(cm, "ConfigMap"); err != nil {
			return err
		}
		cm.Labels, cm.Data = desired.Labels, desired.Data
		return controllerutil.SetControllerReference(s.rc, cm, r.Scheme)
	}); err != nil {
		return 0, reconcile.Result{}, s.applyError("ConfigMap", desired.Name, err)
	}
	s.bootstrap = cm
	s.obs.Bootstrapped = cm.Data[specs.KeyInitialClusterState] == specs.StateExisting
	return bootstrapSize(s.rc.Name, cm), reconcile.Result{}, nil
}

// bootstrapMembers are the members that start as "new": spec.replicas of
// them, or for a restore the seeded member alone (the others join it as
// learners: every member of a new cluster restored from one file would
// otherwise need the file, and the same IDs).
func bootstrapMembers(s *reconcileState) []string {
	if s.rc.RestoreSource() != nil {
		return []string{specs.RestoreMember(s.rc)}
	}
	var initial []string
	for n := range int(s.rc.DesiredReplicas()) {
		initial = append(initial, membership.MemberName(s.rc.Name, n))
	}
	return initial
}

// bootstrapFormed reports whether every bootstrap member runs as a voter
// of the cluster that now has a leader. A leader only needs a majority: a
// member whose pod started later than that must still find "new" (it then
// bootstraps from the same list and catches up, as etcd's late static
// members do); with "existing" and no data, the node would take itself for
// a voter that lost its data and fence itself.
func bootstrapFormed(s *reconcileState) bool {
	if s.leader == nil {
		return false
	}
	for _, entry := range strings.Split(s.bootstrap.Data[specs.KeyInitialCluster], ",") {
		name, _, _ := strings.Cut(entry, "=")
		if !slices.ContainsFunc(s.obs.Voters(), func(m membership.Member) bool { return m.Name == name && m.Healthy }) {
			return false
		}
	}
	return true
}

// bootstrapSize is one past the highest ordinal the ConfigMap lists: the
// bootstrap members while the cluster forms, later the last members seen.
func bootstrapSize(cluster string, cm *corev1.ConfigMap) int {
	highest := -1
	for _, entry := range strings.Split(cm.Data[specs.KeyInitialCluster], ",") {
		name, _, _ := strings.Cut(entry, "=")
		highest = max(highest, membership.Ordinal(cluster, name))
	}
	return highest + 1
}

// memberNames lists the members by ordinal.
func (r *RaftClusterReconciler) memberNames(s *reconcileState) []string {
	ms := slices.DeleteFunc(slices.Clone(s.obs.Members), func(m membership.Member) bool { return m.Name == "" })
	slices.SortFunc(ms, func(a, b membership.Member) int { return a.Ordinal - b.Ordinal })
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func (r *RaftClusterReconciler) ensureService(ctx context.Context, s *reconcileState, desired *corev1.Service) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, svc, func() error {
		if err := s.claim(svc, "Service"); err != nil {
			return err
		}
		if svc.CreationTimestamp.IsZero() {
			svc.Spec.ClusterIP = desired.Spec.ClusterIP
		}
		svc.Labels = desired.Labels
		svc.Spec.Type, svc.Spec.Selector, svc.Spec.Ports = desired.Spec.Type, desired.Spec.Selector, desired.Spec.Ports
		svc.Spec.PublishNotReadyAddresses = desired.Spec.PublishNotReadyAddresses
		return controllerutil.SetControllerReference(s.rc, svc, r.Scheme)
	})
	if err != nil {
		return s.applyError("Service", desired.Name, err)
	}
	return nil
}

// ensureStatefulSet creates the StatefulSet or updates its size and, when
// its hash changed, its pod template. With OnDelete a new template changes
// no running pod; the upgrade planner restarts them in order.
func (r *RaftClusterReconciler) ensureStatefulSet(ctx context.Context, s *reconcileState) error {
	desired := specs.StatefulSet(s.rc, r.Specs, int32(s.stsReplicas))
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, sts, func() error {
		if err := s.claim(sts, "StatefulSet"); err != nil {
			return err
		}
		if sts.CreationTimestamp.IsZero() {
			desired.Spec.DeepCopyInto(&sts.Spec)
		}
		sts.Labels = desired.Labels
		sts.Spec.Replicas = desired.Spec.Replicas
		// spec.storage.reclaimPolicy may change; the StatefulSet's
		// retention policy is mutable and follows it.
		sts.Spec.PersistentVolumeClaimRetentionPolicy = desired.Spec.PersistentVolumeClaimRetentionPolicy
		if sts.Spec.Template.Annotations[specs.AnnotationTemplateHash] != desired.Spec.Template.Annotations[specs.AnnotationTemplateHash] {
			sts.Spec.Template = desired.Spec.Template
		}
		return controllerutil.SetControllerReference(s.rc, sts, r.Scheme)
	})
	if err != nil {
		return s.applyError("StatefulSet", desired.Name, err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("Applied StatefulSet", "statefulset", sts.Name, "replicas", s.stsReplicas, "operation", op)
	}
	s.sts = sts
	return nil
}

func (r *RaftClusterReconciler) ensurePDB(ctx context.Context, s *reconcileState, voters int) error {
	desired := specs.PodDisruptionBudget(s.rc, max(voters, 1))
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: desired.Name, Namespace: desired.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, pdb, func() error {
		if err := s.claim(pdb, "PodDisruptionBudget"); err != nil {
			return err
		}
		pdb.Labels = desired.Labels
		pdb.Spec.Selector, pdb.Spec.MinAvailable = desired.Spec.Selector, desired.Spec.MinAvailable
		return controllerutil.SetControllerReference(s.rc, pdb, r.Scheme)
	})
	if err != nil {
		return s.applyError("PodDisruptionBudget", desired.Name, err)
	}
	return nil
}

// claim refuses to take over an existing object of a derived name that
// this RaftCluster does not control (another cluster's, e.g. cluster
// "kv-peer" and the peer Service of "kv", or a user's): adopting it would
// overwrite it, and SetControllerReference only refuses when another
// controller owns it.
func (s *reconcileState) claim(obj client.Object, kind string) error {
	// An object being created (not found) has no resource version yet.
	if obj.GetResourceVersion() == "" || metav1.IsControlledBy(obj, s.rc) {
		return nil
	}
	return s.nameConflict(kind, obj.GetName())
}

// applyError wraps a failed create-or-update, keeping a name conflict
// terminal. AlreadyExists after the cache found nothing is a name conflict
// too: an object without our labels is not in the (label-filtered) cache.
func (s *reconcileState) applyError(kind, name string, err error) error {
	if errors.Is(err, reconcile.TerminalError(nil)) {
		return err
	}
	if apierrors.IsAlreadyExists(err) {
		return s.nameConflict(kind, name)
	}
	return fmt.Errorf("cannot apply %s %s: %w", kind, name, err)
}

// labelRoles keeps raft.kuberaft.io/role on every pod in line with the
// observed membership; the -leader Service and the PDB select on it. It
// leaves labels alone while no leader is known.
func (r *RaftClusterReconciler) labelRoles(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	if s.rc.Spec.Paused || s.obs.LeaderID == 0 {
		return reconcile.Result{}, nil
	}
	roles := map[string]string{}
	for _, m := range s.obs.Members {
		roles[m.Name] = roleLabel(m, s.obs.LeaderID)
	}
	for _, pod := range s.pods {
		want, have := roles[pod.Name], pod.Labels[specs.LabelRole]
		if want == have {
			continue
		}
		patch := client.MergeFrom(pod.DeepCopy())
		labels := maps.Clone(pod.Labels)
		if want == "" {
			delete(labels, specs.LabelRole)
		} else {
			labels[specs.LabelRole] = want
		}
		pod.Labels = labels
		if err := r.Patch(ctx, pod, patch); err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("cannot label pod %s: %w", pod.Name, err)
		}
	}
	return reconcile.Result{}, nil
}

func roleLabel(m membership.Member, leader uint64) string {
	switch {
	case m.ID == leader:
		return specs.RoleLeader
	case m.Learner:
		return specs.RoleLearner
	}
	return specs.RoleFollower
}

// cleanupVolumes deletes the PVCs of ordinals that no member and no
// StatefulSet pod will use again (after a scale-in or a replacement), so a
// returning ordinal never starts on stale data. It also deletes the PVCs
// (and pods) left by an earlier RaftCluster of the same name: their nodes
// would be fenced by the token, and the retention policy of that cluster's
// StatefulSet was to delete them anyway.
func (r *RaftClusterReconciler) cleanupVolumes(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	if s.rc.Spec.Paused {
		return reconcile.Result{}, nil
	}
	for _, pvc := range s.foreignPVCs {
		if !pvc.DeletionTimestamp.IsZero() {
			continue
		}
		log.FromContext(ctx).Info("Deleting volume of an earlier cluster", "pvc", pvc.Name, "uid", pvc.Labels[specs.LabelClusterUID])
		if err := r.Delete(ctx, pvc, client.Preconditions{UID: &pvc.UID}); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("cannot delete PVC %s: %w", pvc.Name, err)
		}
		if pod := s.pods[membership.Ordinal(s.rc.Name, strings.TrimPrefix(pvc.Name, specs.DataVolume+"-"))]; pod != nil {
			if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, fmt.Errorf("cannot delete pod %s: %w", pod.Name, err)
			}
		}
		r.eventAbout(s, pvc, corev1.EventTypeWarning, "DeletedForeignVolume", "Deleted PVC %s left by an earlier RaftCluster of this name", pvc.Name)
	}
	for _, n := range membership.OrphanVolumes(&s.obs, s.stsReplicas) {
		pvc := s.pvcs[n]
		if !pvc.DeletionTimestamp.IsZero() {
			continue
		}
		log.FromContext(ctx).Info("Deleting volume of removed member", "pvc", pvc.Name)
		if err := r.Delete(ctx, pvc, client.Preconditions{UID: &pvc.UID}); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("cannot delete PVC %s: %w", pvc.Name, err)
		}
		r.eventAbout(s, pvc, corev1.EventTypeNormal, "DeletedVolume", "Deleted PVC %s of removed member", pvc.Name)
	}
	return reconcile.Result{}, nil
}
