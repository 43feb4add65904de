package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
)

// Bounds of the member-list queries: each peer gets PeerAskTimeout, and
// Ask retries every askRetry within its total.
const (
	PeerAskTimeout = time.Second
	askRetry       = 200 * time.Millisecond
)

// ErrNoPeers: the initial cluster names no other member to ask.
var ErrNoPeers = errors.New("no peer to ask in the initial cluster")

// Asker asks the member at a peer URL for the member list (the peer
// transport).
type Asker interface {
	Members(ctx context.Context, url string) (*peerpb.MembersResponse, error)
}

// Ask queries the initial-cluster peers but self until one answers or
// total is up, and prefers the leader's answer (only it knows which
// members have data). Peers may not be reachable yet (pods starting,
// names not resolving), hence the retries.
func Ask(ctx context.Context, a Asker, initial []Peer, self string, total time.Duration) (*peerpb.MembersResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	for {
		resp, err := AskOnce(ctx, a, initial, self)
		if err == nil || errors.Is(err, ErrNoPeers) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(askRetry):
		}
	}
}

// AskOnce asks every initial-cluster peer but self once.
func AskOnce(ctx context.Context, a Asker, initial []Peer, self string) (*peerpb.MembersResponse, error) {
	var first *peerpb.MembersResponse
	var errs []error
	for _, p := range initial {
		if p.Name == self {
			continue
		}
		for _, u := range p.PeerURLs {
			pctx, pcancel := context.WithTimeout(ctx, PeerAskTimeout)
			resp, err := a.Members(pctx, u)
			pcancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if resp.FromLeader {
				return resp, nil
			}
			if first == nil {
				first = resp
			}
		}
	}
	if first != nil {
		return first, nil
	}
	if len(errs) == 0 {
		return nil, ErrNoPeers
	}
	return nil, fmt.Errorf("no peer answered: %w", errors.Join(errs...))
}
