// Package grpckeepalive is the one definition of the keepalive contract
// between the node's client gRPC server and its clients (the operator):
// the client pings an idle connection every ClientPingInterval and drops
// it when a ping is not answered within ClientPingTimeout; the server's
// enforcement policy allows that rate. Both sides import this package, so
// the server never answers the client's pings with GOAWAY "too_many_pings"
// (gRPC's default policy allows one ping per 5 minutes).
package grpckeepalive

import (
	"time"

	"google.golang.org/grpc/keepalive"
)

// Client pings. Without them a connection to a node lost uncleanly (its
// pod rescheduled, its packets black-holed) looks healthy to TCP for
// minutes, and every call on it times out instead of reconnecting to the
// rescheduled pod. 10 s is the lowest interval gRPC allows a client.
const (
	ClientPingInterval = 10 * time.Second
	ClientPingTimeout  = 5 * time.Second
)

// ClientParameters are the client side: ping idle connections too (the
// operator keeps one connection per node between reconcile loops).
func ClientParameters() keepalive.ClientParameters {
	return keepalive.ClientParameters{Time: ClientPingInterval, Timeout: ClientPingTimeout, PermitWithoutStream: true}
}

// EnforcementPolicy is the server side: pings as often as half the client
// interval are allowed (timer jitter and a retried ping must not count as
// abuse), with or without a call in flight.
func EnforcementPolicy() keepalive.EnforcementPolicy {
	return keepalive.EnforcementPolicy{MinTime: ClientPingInterval / 2, PermitWithoutStream: true}
}
