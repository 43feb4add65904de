package v1alpha1

import "testing"

func TestDesiredImageAndVersionLabel(t *testing.T) {
	for _, tc := range []struct {
		name           string
		spec           RaftClusterSpec
		image, version string
	}{
		{"version", RaftClusterSpec{Version: "v1"}, "kuberaft.local/raftnode:v1", "v1"},
		{"image wins", RaftClusterSpec{Version: "v1", Image: "mirror/raftnode:v9"}, "mirror/raftnode:v9", "mirror/raftnode:v9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &RaftCluster{Spec: tc.spec}
			if got := rc.DesiredImage(); got != tc.image {
				t.Errorf("DesiredImage = %q, want %q", got, tc.image)
			}
			if got := rc.VersionLabel(); got != tc.version {
				t.Errorf("VersionLabel = %q, want %q", got, tc.version)
			}
		})
	}
}

func TestDesiredReplicasDefaults(t *testing.T) {
	five := int32(5)
	if got := (&RaftCluster{}).DesiredReplicas(); got != DefaultReplicas {
		t.Errorf("unset replicas = %d, want %d", got, DefaultReplicas)
	}
	if got := (&RaftCluster{Spec: RaftClusterSpec{Replicas: &five}}).DesiredReplicas(); got != 5 {
		t.Errorf("replicas = %d, want 5", got)
	}
}
