package server

import (
	"context"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// DefaultMembershipAllowedCN is the certificate common name the operator's
// client certificate carries (raftnode --membership-allowed-cn).
const DefaultMembershipAllowedCN = "kuberaft-operator"

// membershipMethods change who is in the cluster or who leads it: only
// the operator's identity may call them once clients present
// certificates. Any application holding a client certificate could
// otherwise remove voters (issue 9). Reads (MemberList, Status) stay open
// to every verified client, as in etcd.
var membershipMethods = map[string]bool{
	nodepb.Membership_ChangeMembers_FullMethodName: true,
	pb.Cluster_MemberAdd_FullMethodName:            true,
	pb.Cluster_MemberRemove_FullMethodName:         true,
	pb.Cluster_MemberPromote_FullMethodName:        true,
	pb.Cluster_MemberUpdate_FullMethodName:         true,
	pb.Maintenance_MoveLeader_FullMethodName:       true,
}

// membershipAuthz returns the interceptor that admits membership calls
// only from a verified client certificate whose subject CN is in allowed.
// It is etcd's role check on the certificate's CN (auth store
// AuthInfoFromTLS, the root role for membership) without the rest of
// etcd's auth.
func membershipAuthz(allowed []string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !membershipMethods[info.FullMethod] {
			return handler(ctx, req)
		}
		cn, ok := verifiedCN(ctx)
		if !ok {
			return nil, status.Errorf(codes.PermissionDenied, "kuberaft: %s needs a verified client certificate with CN in %q", info.FullMethod, allowed)
		}
		if !slices.Contains(allowed, cn) {
			return nil, status.Errorf(codes.PermissionDenied, "kuberaft: %s is reserved to client certificates with CN in %q; this one has CN %q", info.FullMethod, allowed, cn)
		}
		return handler(ctx, req)
	}
}

// verifiedCN is the common name of the caller's verified leaf certificate.
func verifiedCN(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return ti.State.VerifiedChains[0][0].Subject.CommonName, true
}
