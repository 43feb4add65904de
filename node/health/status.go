package health

import (
	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// StatusJSON is the body of /status. IDs are raft IDs as JSON numbers
// (etcdctl prints the same IDs in hex).
type StatusJSON struct {
	ID             uint64       `json:"id"`
	Name           string       `json:"name"`
	ClusterID      uint64       `json:"cluster_id"`
	Role           string       `json:"role"`
	Leader         uint64       `json:"leader"`
	Term           uint64       `json:"term"`
	Commit         uint64       `json:"commit"`
	Applied        uint64       `json:"applied"`
	Voters         []uint64     `json:"voters"`
	Learners       []uint64     `json:"learners"`
	VotersOutgoing []uint64     `json:"voters_outgoing,omitempty"`
	LearnersNext   []uint64     `json:"learners_next,omitempty"`
	Joint          bool         `json:"joint"`
	Members        []MemberJSON `json:"members"`
	Version        string       `json:"version,omitempty"`
	// Fenced is set when the node refused to join; the reason.
	Fenced string `json:"fenced,omitempty"`
}

// MemberJSON is one member in /status.
type MemberJSON struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
}

// FromStatus converts the node's Status RPC answer. Empty lists are
// rendered as [] so consumers need not special-case null.
func FromStatus(st *nodepb.StatusResponse) StatusJSON {
	cs := st.GetConfState()
	out := StatusJSON{
		ID: st.GetId(), Name: st.GetName(), ClusterID: st.GetClusterId(), Role: st.GetRole(),
		Leader: st.GetLeader(), Term: st.GetTerm(), Commit: st.GetCommit(), Applied: st.GetApplied(),
		Voters: nonNil(cs.GetVoters()), Learners: nonNil(cs.GetLearners()),
		VotersOutgoing: cs.GetVotersOutgoing(), LearnersNext: cs.GetLearnersNext(),
		Joint: st.GetJoint(), Members: []MemberJSON{}, Version: st.GetVersion(),
	}
	for _, m := range st.GetMembers() {
		out.Members = append(out.Members, MemberJSON{
			ID: m.GetId(), Name: m.GetName(), PeerURLs: nonNilS(m.GetPeerUrls()),
			ClientURLs: nonNilS(m.GetClientUrls()), IsLearner: m.GetIsLearner(),
		})
	}
	return out
}

func nonNil(s []uint64) []uint64 {
	if s == nil {
		return []uint64{}
	}
	return s
}

func nonNilS(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
