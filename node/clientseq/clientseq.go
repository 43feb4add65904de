// Package clientseq carries a client's at-most-once identity (client id and
// sequence number) from the gRPC layer to the state machine. A mutating
// request retried with the same pair is applied once and answered with the
// first result (the 6.824 kvraft rule).
package clientseq

import "context"

// Metadata keys a client sets on a mutating gRPC call.
const (
	MetadataClientID = "kuberaft-client-id"
	MetadataSeq      = "kuberaft-seq"
)

// Ident names one request of one client. The zero value means "no
// at-most-once tracking".
type Ident struct {
	ClientID string
	Seq      uint64
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Ident) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the identity in ctx, if any.
func From(ctx context.Context) (Ident, bool) {
	id, ok := ctx.Value(ctxKey{}).(Ident)
	return id, ok && id.ClientID != ""
}
