package bootstrap

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/raft/v3"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/raftnode/memberplan"
)

// Peer is one member of the initial cluster.
type Peer struct {
	Name     string
	PeerURLs []string
}

// ParseInitialCluster parses etcd's --initial-cluster syntax,
// "name1=http://a:2380,name2=http://b:2380" (a name may repeat to give
// several URLs).
func ParseInitialCluster(s string) ([]Peer, error) {
	var peers []Peer
	index := map[string]int{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want name=url", item)
		}
		if err := memberplan.ValidatePeerURL(u); err != nil {
			return nil, fmt.Errorf("initial cluster entry %q: %w", item, err)
		}
		if i, seen := index[name]; seen {
			peers[i].PeerURLs = append(peers[i].PeerURLs, u)
			continue
		}
		index[name] = len(peers)
		peers = append(peers, Peer{Name: name, PeerURLs: []string{u}})
	}
	if len(peers) == 0 {
		return nil, errors.New("initial cluster is empty")
	}
	return peers, nil
}

// InitialMembers turns the initial cluster into raft peers whose contexts
// carry the member metadata (applied with the bootstrap conf changes), and
// their IDs.
func InitialMembers(initial []Peer, token string) ([]raft.Peer, []uint64, error) {
	if len(initial) == 0 {
		return nil, nil, errors.New("raftnode: InitialCluster is empty")
	}
	var peers []raft.Peer
	var ids []uint64
	for _, p := range initial {
		for _, u := range p.PeerURLs {
			if err := memberplan.ValidatePeerURL(u); err != nil {
				return nil, nil, fmt.Errorf("raftnode: initial cluster member %q: %w", p.Name, err)
			}
		}
		id := MemberID(p.Name, token)
		if slices.Contains(ids, id) {
			return nil, nil, fmt.Errorf("raftnode: initial cluster lists %q twice", p.Name)
		}
		// Every member must build byte-identical bootstrap entries (raft
		// does not compare them), so only what all know goes in: no client
		// URLs, which each member publishes once it runs.
		m := &statepb.Member{Id: id, Name: p.Name, PeerUrls: p.PeerURLs}
		ctx, err := proto.Marshal(m)
		if err != nil {
			return nil, nil, fmt.Errorf("raftnode: marshal member: %w", err)
		}
		peers = append(peers, raft.Peer{ID: id, Context: ctx})
		ids = append(ids, id)
	}
	return peers, ids, nil
}
