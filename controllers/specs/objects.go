package specs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Roles as pod label values.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
	RoleLearner  = "learner"
)

func servicePorts() []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "client", Protocol: corev1.ProtocolTCP, Port: ClientPort, TargetPort: intstr.FromString("client")},
		{Name: "peer", Protocol: corev1.ProtocolTCP, Port: PeerPort, TargetPort: intstr.FromString("peer")},
		{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: MetricsPort, TargetPort: intstr.FromString("metrics")},
	}
}

// PeerService is the headless Service behind the pods' DNS names. It
// publishes not-ready pods: a node needs its peers' names to become ready.
func PeerService(rc *raftv1alpha1.RaftCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: PeerServiceName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 SelectorLabels(rc),
			Ports:                    servicePorts(),
		},
	}
}

// ClientService load-balances over every ready member.
func ClientService(rc *raftv1alpha1.RaftCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ClientServiceName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(rc),
			Ports:    servicePorts()[:1],
		},
	}
}

// LeaderService selects only the pod labelled role=leader.
func LeaderService(rc *raftv1alpha1.RaftCluster) *corev1.Service {
	sel := SelectorLabels(rc)
	sel[LabelRole] = RoleLeader
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: LeaderServiceName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: sel,
			Ports:    servicePorts()[:1],
		},
	}
}

// PodDisruptionBudget keeps a quorum of the current voters available. It
// selects voters only (role leader or follower): a ready learner must not
// count towards the budget, or evicting voters could lose quorum.
func PodDisruptionBudget(rc *raftv1alpha1.RaftCluster, voters int) *policyv1.PodDisruptionBudget {
	sel := &metav1.LabelSelector{
		MatchLabels: SelectorLabels(rc),
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: LabelRole, Operator: metav1.LabelSelectorOpIn, Values: []string{RoleLeader, RoleFollower},
		}},
	}
	minAvailable := intstr.FromInt32(int32(voters/2 + 1))
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: PDBName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: sel, MinAvailable: &minAvailable},
	}
}

// BootstrapConfigMap carries what a starting node needs: the members to
// contact (--initial-cluster), whether the cluster is new or existing, and
// a token derived from the RaftCluster's UID, so that the data of two
// incarnations of a cluster with the same name never mix.
func BootstrapConfigMap(rc *raftv1alpha1.RaftCluster, opts Options, members []string, state string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: BootstrapConfigMapName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Data: map[string]string{
			KeyInitialCluster:      InitialCluster(rc, opts, members),
			KeyInitialClusterState: state,
			KeyInitialClusterToken: Token(rc),
		},
	}
}

// Token is the cluster token of this incarnation of rc.
func Token(rc *raftv1alpha1.RaftCluster) string {
	return fmt.Sprintf("%s-%s", rc.Name, rc.UID)
}
