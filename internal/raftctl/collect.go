package raftctl

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/node/health"
)

// Collector gathers a report's inputs from the API server and the members.
type Collector struct {
	Client  client.Client
	Members MemberClient
	Now     func() time.Time
}

// Collect reads the RaftCluster, its pods, PDB and events, then asks every
// member pod for its live status, concurrently, each bounded by
// MemberTimeout. A member that cannot be reached is recorded, not fatal.
func (c *Collector) Collect(ctx context.Context, namespace, name string) (Inputs, error) {
	in := Inputs{Cluster: &raftv1alpha1.RaftCluster{}, Live: map[string]*health.StatusJSON{}, LiveErrors: map[string]error{}}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, in.Cluster); err != nil {
		return in, fmt.Errorf("cannot get RaftCluster %s/%s: %w", namespace, name, err)
	}
	pods := &corev1.PodList{}
	if err := c.Client.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabels(specs.SelectorLabels(in.Cluster))); err != nil {
		return in, fmt.Errorf("cannot list the member pods: %w", err)
	}
	in.Pods = pods.Items
	pdb := &policyv1.PodDisruptionBudget{}
	switch err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: specs.PDBName(in.Cluster)}, pdb); {
	case err == nil:
		in.PDB = pdb
	case !apierrors.IsNotFound(err):
		return in, fmt.Errorf("cannot get the PodDisruptionBudget: %w", err)
	}
	events, err := c.events(ctx, in.Cluster)
	if err != nil {
		return in, err
	}
	in.Events = events
	switch in.Backups, err = c.backups(ctx, in.Cluster); {
	case apierrors.IsForbidden(err) || meta.IsNoMatchError(err):
		// A user who may read clusters but not backups (or a cluster
		// without the RaftBackup CRD) still gets the rest of the screen.
		in.BackupsError = err
	case err != nil:
		return in, err
	}
	c.askMembers(ctx, &in)
	in.Now = c.now()
	return in, nil
}

// events are the events.k8s.io events whose regarding object is the cluster.
func (c *Collector) events(ctx context.Context, rc *raftv1alpha1.RaftCluster) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	if err := c.Client.List(ctx, list, client.InNamespace(rc.Namespace)); err != nil {
		return nil, fmt.Errorf("cannot list events: %w", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "RaftCluster" && e.Regarding.Name == rc.Name {
			out = append(out, e)
		}
	}
	return out, nil
}

// backups are the RaftBackups whose spec.cluster is the cluster, whoever
// created them (the schedule or a user).
func (c *Collector) backups(ctx context.Context, rc *raftv1alpha1.RaftCluster) ([]raftv1alpha1.RaftBackup, error) {
	list := &raftv1alpha1.RaftBackupList{}
	if err := c.Client.List(ctx, list, client.InNamespace(rc.Namespace)); err != nil {
		return nil, fmt.Errorf("cannot list RaftBackups: %w", err)
	}
	var out []raftv1alpha1.RaftBackup
	for _, b := range list.Items {
		if b.Spec.Cluster == rc.Name {
			out = append(out, b)
		}
	}
	return out, nil
}

func (c *Collector) askMembers(ctx context.Context, in *Inputs) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range in.Pods {
		wg.Add(1)
		go func(pod string) {
			defer wg.Done()
			st, err := c.Members.Status(ctx, in.Cluster.Namespace, pod)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				in.LiveErrors[pod] = err
				return
			}
			in.Live[pod] = st
		}(p.Name)
	}
	wg.Wait()
}

func (c *Collector) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
