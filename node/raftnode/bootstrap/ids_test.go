package bootstrap

import "testing"

func TestIDsAndInitialCluster(t *testing.T) {
	if MemberID("a", "t") == MemberID("a", "u") || MemberID("a", "t") != MemberID("a", "t") {
		t.Fatal("member IDs must depend on name and token, deterministically")
	}
	if ClusterID("t", []uint64{1, 2}) != ClusterID("t", []uint64{2, 1}) {
		t.Fatal("cluster ID must not depend on member order")
	}
	peers, err := ParseInitialCluster("a=http://a:2380,b=http://b:2380,a=http://a2:2380")
	if err != nil || len(peers) != 2 || len(peers[0].PeerURLs) != 2 {
		t.Fatalf("parse = %v, %v", peers, err)
	}
	for _, bad := range []string{"", "a", "=http://a:1", "a=ftp://a:1", "a=http://a", "a=http://a:1/path"} {
		if _, err := ParseInitialCluster(bad); err == nil {
			t.Fatalf("ParseInitialCluster(%q) accepted", bad)
		}
	}
}
