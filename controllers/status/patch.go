package status

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Mutation changes a status in place.
type Mutation func(*raftv1alpha1.RaftClusterStatus)

// Patch re-reads the RaftCluster, applies mutations to its status and, if
// that changed anything, merge-patches the status subresource with an
// optimistic lock, retrying on conflict. It returns the status written (or
// found unchanged).
func Patch(ctx context.Context, c client.Client, key types.NamespacedName, mutations ...Mutation) (*raftv1alpha1.RaftClusterStatus, error) {
	var out *raftv1alpha1.RaftClusterStatus
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var current raftv1alpha1.RaftCluster
		if err := c.Get(ctx, key, &current); err != nil {
			return err
		}
		updated := current.DeepCopy()
		for _, m := range mutations {
			m(&updated.Status)
		}
		out = &updated.Status
		if equality.Semantic.DeepEqual(current.Status, updated.Status) {
			return nil
		}
		return c.Status().Patch(ctx, updated, client.MergeFromWithOptions(&current, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return nil, fmt.Errorf("cannot patch status of %s: %w", key, err)
	}
	return out, nil
}
