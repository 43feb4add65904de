package bootstrap

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
)

// MemberID is the raft ID of an initial-cluster member: a hash of its name
// and the cluster token, so every member computes the same IDs from the same
// --initial-cluster without talking. Never 0 (raft's "none").
func MemberID(name, token string) uint64 {
	return hashID("member", name, token)
}

// ClusterID is the cluster's ID: a hash of the token and the sorted member
// IDs of the initial cluster.
func ClusterID(token string, memberIDs []uint64) uint64 {
	ids := append([]uint64(nil), memberIDs...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	parts := []string{"cluster", token}
	for _, id := range ids {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], id)
		parts = append(parts, string(b[:]))
	}
	return hashID(parts...)
}

func hashID(parts ...string) uint64 {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		var l [8]byte
		binary.BigEndian.PutUint64(l[:], uint64(len(p)))
		h.Write(l[:])
		h.Write([]byte(p))
	}
	id := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if id == 0 {
		id = 1
	}
	return id
}
