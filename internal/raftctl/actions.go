package raftctl

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// WaitPoll is how often a --wait re-reads the cluster.
const WaitPoll = time.Second

// Actions are the Day-2 commands. Each writes a request the operator acts
// on (an annotation) or a spec field; none talks to the members, so every
// change goes through the operator's planner and preflight checks.
type Actions struct {
	Client client.Client
}

// RequestMoveLeader asks the operator to move leadership to target (a
// member pod), or to the best other voter when target is empty.
func (a *Actions) RequestMoveLeader(ctx context.Context, namespace, name, target string) error {
	rc, err := a.get(ctx, namespace, name)
	if err != nil {
		return err
	}
	if target != "" {
		m := memberNamed(rc, target)
		if m == nil {
			return fmt.Errorf("%s is not a member of %s/%s (members: %v)", target, namespace, name, memberNames(rc))
		}
		if m.Role == raftv1alpha1.RoleLearner {
			return fmt.Errorf("%s is a learner: only a voter can lead", target)
		}
	}
	return a.annotate(ctx, rc, raftv1alpha1.AnnotationMoveLeader, target)
}

// RequestRestart asks the operator to restart member pod: the operator
// moves leadership off it first and deletes it only while the other voters
// keep a quorum. It returns the cluster the pod belongs to.
func (a *Actions) RequestRestart(ctx context.Context, namespace, pod string) (string, error) {
	p := &corev1.Pod{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, p); err != nil {
		return "", fmt.Errorf("cannot get pod %s/%s: %w", namespace, pod, err)
	}
	name := p.Labels[specs.LabelCluster]
	if name == "" || p.Labels[specs.LabelName] != specs.AppName {
		return "", fmt.Errorf("pod %s/%s is not a RaftCluster member (no %s label)", namespace, pod, specs.LabelCluster)
	}
	rc, err := a.get(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	return name, a.annotate(ctx, rc, raftv1alpha1.AnnotationRestart, pod)
}

// SetPaused sets spec.paused: a paused cluster gets no membership change,
// pod deletion or object update, and is still observed.
func (a *Actions) SetPaused(ctx context.Context, namespace, name string, paused bool) error {
	rc, err := a.get(ctx, namespace, name)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"paused": paused}})
	if err != nil {
		return err
	}
	if err := a.Client.Patch(ctx, rc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("cannot set spec.paused=%t on %s/%s: %w", paused, namespace, name, err)
	}
	return nil
}

// WaitRequestDone waits until the operator removed the annotation (it does
// once the request is carried out or refused for good) and done holds for
// the cluster as it is then, bounded by timeout; it returns that cluster.
// done is needed because status (e.g. status.leader) is written by the
// operator's next loop, after the annotation is removed.
func (a *Actions) WaitRequestDone(ctx context.Context, namespace, name, annotation string, timeout time.Duration,
	done func(*raftv1alpha1.RaftCluster) bool) (*raftv1alpha1.RaftCluster, error) {
	var rc *raftv1alpha1.RaftCluster
	err := wait.PollUntilContextTimeout(ctx, WaitPoll, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if rc, err = a.get(ctx, namespace, name); err != nil {
			return false, err
		}
		_, pending := rc.Annotations[annotation]
		return !pending && done(rc), nil
	})
	if err != nil {
		return rc, fmt.Errorf("the operator has not carried out %s on %s/%s within %s (see `kubectl raft status %s` and its events): %w",
			annotation, namespace, name, timeout, name, err)
	}
	return rc, nil
}

func (a *Actions) get(ctx context.Context, namespace, name string) (*raftv1alpha1.RaftCluster, error) {
	rc := &raftv1alpha1.RaftCluster{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, rc); err != nil {
		return nil, fmt.Errorf("cannot get RaftCluster %s/%s: %w", namespace, name, err)
	}
	return rc, nil
}

// annotate sets one annotation with a merge patch (no read-modify-write
// race with the operator's own writes).
func (a *Actions) annotate(ctx context.Context, rc *raftv1alpha1.RaftCluster, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	if err := a.Client.Patch(ctx, rc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("cannot annotate %s/%s with %s: %w", rc.Namespace, rc.Name, key, err)
	}
	return nil
}

// Leader returns the leader in the cluster's status ("" when none).
func (a *Actions) Leader(ctx context.Context, namespace, name string) (string, error) {
	rc, err := a.get(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	return rc.Status.Leader, nil
}

func memberNamed(rc *raftv1alpha1.RaftCluster, name string) *raftv1alpha1.MemberStatus {
	i := slices.IndexFunc(rc.Status.Members, func(m raftv1alpha1.MemberStatus) bool { return m.Name == name })
	if i < 0 {
		return nil
	}
	return &rc.Status.Members[i]
}

func memberNames(rc *raftv1alpha1.RaftCluster) []string {
	out := make([]string, 0, len(rc.Status.Members))
	for _, m := range rc.Status.Members {
		out = append(out, m.Name)
	}
	return out
}
