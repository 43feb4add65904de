package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

func TestMembershipAuthz(t *testing.T) {
	withCN := func(cn string) context.Context {
		leaf := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
		info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
	}
	intercept := membershipAuthz([]string{DefaultMembershipAllowedCN})
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		method string
		ok     bool
	}{
		{"operator changes members", withCN(DefaultMembershipAllowedCN), nodepb.Membership_ChangeMembers_FullMethodName, true},
		{"app changes members", withCN("app"), nodepb.Membership_ChangeMembers_FullMethodName, false},
		{"app removes with etcd's API", withCN("app"), pb.Cluster_MemberRemove_FullMethodName, false},
		{"app moves the leader", withCN("app"), pb.Maintenance_MoveLeader_FullMethodName, false},
		{"no certificate", context.Background(), nodepb.Membership_ChangeMembers_FullMethodName, false},
		{"app lists members", withCN("app"), pb.Cluster_MemberList_FullMethodName, true},
		{"app writes", withCN("app"), pb.KV_Put_FullMethodName, true},
		{"app counts", withCN("app"), nodepb.Counter_IncrementAndGet_FullMethodName, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			_, err := intercept(tt.ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(context.Context, any) (any, error) {
				called = true
				return nil, nil
			})
			if tt.ok != (err == nil) || called != tt.ok {
				t.Fatalf("err = %v, handler called = %v; want ok = %v", err, called, tt.ok)
			}
			if !tt.ok && status.Code(err) != codes.PermissionDenied {
				t.Fatalf("code = %v, want PermissionDenied", status.Code(err))
			}
		})
	}
}
