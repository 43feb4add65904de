package bootstrap

import (
	"errors"
	"testing"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/storage"
)

func TestCheckJoin(t *testing.T) {
	learner := &peerpb.Member{Id: 4, IsLearner: true}
	voter := &peerpb.Member{Id: 5}
	cases := []struct {
		name   string
		resp   *peerpb.MembersResponse
		self   *peerpb.Member
		fenced bool
		retry  bool
	}{
		{name: "new learner", resp: &peerpb.MembersResponse{}, self: learner},
		{name: "new voter, leader answered", resp: &peerpb.MembersResponse{FromLeader: true}, self: voter},
		{name: "new voter, a follower answered", resp: &peerpb.MembersResponse{}, self: voter, retry: true},
		{name: "voter that had data", resp: &peerpb.MembersResponse{FromLeader: true, Started: []uint64{5}}, self: voter, fenced: true},
		{name: "learner that had data", resp: &peerpb.MembersResponse{Started: []uint64{4}}, self: learner, fenced: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJoin(tc.resp, tc.self)
			var fenced *nodeerr.ErrFenced
			switch {
			case tc.fenced && !errors.As(err, &fenced):
				t.Fatalf("got %v, want ErrFenced", err)
			case tc.retry && (err == nil || errors.As(err, &fenced)):
				t.Fatalf("got %v, want a transient error", err)
			case !tc.fenced && !tc.retry && err != nil:
				t.Fatalf("got %v, want nil", err)
			}
		})
	}
}

func TestCheckDataDirAndPeers(t *testing.T) {
	var fenced *nodeerr.ErrFenced
	if err := CheckDataDir(storage.Metadata{Name: "a", Token: "t"}, "b", "t"); !errors.As(err, &fenced) {
		t.Fatalf("other member's data dir: %v", err)
	}
	if err := CheckDataDir(storage.Metadata{Name: "a", Token: "t"}, "a", "u"); !errors.As(err, &fenced) {
		t.Fatalf("other cluster's data dir: %v", err)
	}
	if err := CheckPeersAnswer(&peerpb.MembersResponse{ClusterId: 1, Removed: []uint64{7}}, 7, 1); !errors.As(err, &fenced) {
		t.Fatalf("removed member: %v", err)
	}
	if err := CheckPeersAnswer(&peerpb.MembersResponse{ClusterId: 2}, 7, 1); !errors.As(err, &fenced) {
		t.Fatalf("other cluster: %v", err)
	}
	if err := CheckPeersAnswer(&peerpb.MembersResponse{ClusterId: 1}, 7, 1); err != nil {
		t.Fatal(err)
	}
}
