package watchcheck

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Stream is what one watcher received: every event of every response, in
// the order received, across its resumptions.
type Stream struct {
	Name     string // for error messages
	Prefix   string // the watched range is this key prefix
	StartRev int64  // the revision the watch was created from
	PrevKV   bool   // whether the watch asked for prev_kv
	Events   []*mvccpb.Event
}

// Write is a client write whose response was received: the revision is the
// response header's revision, at which the write must appear in every
// watcher of its key.
type Write struct {
	Key, Value string
	Delete     bool
	Rev        int64
}

// Run is one run to check.
type Run struct {
	Streams []Stream
	Acked   []Write
	// LastRev is the store's revision after the last write; every stream
	// must have been read up to it (the caller waits for that).
	LastRev int64
	// Gapless says every write of the run fell inside the watched ranges,
	// so from the earliest start revision to LastRev every revision must
	// be an event seen by some watcher: a revision no watcher saw is a
	// lost event.
	Gapless bool
}

// refEvent is the agreed content of one (revision, key).
type refEvent struct {
	ev   *mvccpb.Event
	from string // which stream it was first seen in
}

type revKey struct {
	rev int64
	key string
}

// Check returns every violation found (nil when the run is correct).
func Check(in Run) []error {
	var errs []error
	for _, s := range in.Streams {
		errs = append(errs, checkOrder(s)...)
	}
	ref, refErrs := merge(in.Streams)
	errs = append(errs, refErrs...)
	errs = append(errs, checkAcked(ref, in.Acked, in.Streams)...)
	errs = append(errs, checkComplete(ref, in)...)
	errs = append(errs, checkContent(ref, in.Streams)...)
	return errs
}

// checkOrder: revisions never go back, a (revision, key) is never
// repeated, every event is inside the watched range and at or after the
// start revision. Events of one revision (a Txn) come in the Txn's order,
// not sorted by key, so within a revision only uniqueness is checked.
func checkOrder(s Stream) []error {
	var errs []error
	var last revKey
	inRev := map[string]bool{} // keys seen at revision last.rev
	for i, ev := range s.Events {
		if ev.Kv == nil {
			errs = append(errs, fmt.Errorf("%s: event %d has no kv", s.Name, i))
			continue
		}
		cur := revKey{ev.Kv.ModRevision, string(ev.Kv.Key)}
		if !strings.HasPrefix(cur.key, s.Prefix) {
			errs = append(errs, fmt.Errorf("%s: event %d key %q outside prefix %q", s.Name, i, cur.key, s.Prefix))
		}
		if cur.rev < s.StartRev {
			errs = append(errs, fmt.Errorf("%s: event %d at rev %d before start rev %d", s.Name, i, cur.rev, s.StartRev))
		}
		if cur.rev != last.rev {
			clear(inRev)
		}
		if i > 0 && (cur.rev < last.rev || cur.rev == last.rev && inRev[cur.key]) {
			errs = append(errs, fmt.Errorf("%s: event %d %v after %v: out of order or duplicate", s.Name, i, cur, last))
		}
		inRev[cur.key] = true
		last = cur
	}
	return errs
}

// merge builds the reference history from all streams; two streams that
// disagree on a (revision, key) is a violation. prev_kv is compared only
// between streams that asked for it.
func merge(streams []Stream) (map[revKey]refEvent, []error) {
	ref := map[revKey]refEvent{}
	var errs []error
	for _, s := range streams {
		for _, ev := range s.Events {
			if ev.Kv == nil {
				continue
			}
			k := revKey{ev.Kv.ModRevision, string(ev.Kv.Key)}
			seen, ok := ref[k]
			if !ok {
				ref[k] = refEvent{ev: ev, from: s.Name}
				continue
			}
			if !sameEvent(seen.ev, ev) {
				errs = append(errs, fmt.Errorf("rev %d key %q: %s saw %s, %s saw %s", k.rev, k.key, seen.from, describe(seen.ev), s.Name, describe(ev)))
			}
		}
	}
	return ref, errs
}

func sameEvent(a, b *mvccpb.Event) bool {
	return a.Type == b.Type && sameKV(a.Kv, b.Kv)
}

func sameKV(a, b *mvccpb.KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
		a.ModRevision == b.ModRevision && a.Version == b.Version && a.Lease == b.Lease
}

func describe(ev *mvccpb.Event) string {
	if ev == nil || ev.Kv == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %q=%q (create %d, mod %d, version %d)", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.CreateRevision, ev.Kv.ModRevision, ev.Kv.Version)
}

// checkAcked: an acknowledged write inside some watcher's range and
// revision window is in the reference history, with its value.
func checkAcked(ref map[revKey]refEvent, acked []Write, streams []Stream) []error {
	var errs []error
	for _, w := range acked {
		if !covered(streams, w.Key, w.Rev) {
			continue
		}
		got, ok := ref[revKey{w.Rev, w.Key}]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("acknowledged write %+v is in no watch stream", w))
		case w.Delete != (got.ev.Type == mvccpb.DELETE) || !w.Delete && string(got.ev.Kv.Value) != w.Value:
			errs = append(errs, fmt.Errorf("acknowledged write %+v, watchers saw %s", w, describe(got.ev)))
		}
	}
	return errs
}

func covered(streams []Stream, key string, rev int64) bool {
	for _, s := range streams {
		if strings.HasPrefix(key, s.Prefix) && rev >= s.StartRev {
			return true
		}
	}
	return false
}

// checkComplete: each stream holds exactly the reference events of its
// range from its start revision to LastRev, and (Gapless) the reference
// has an event at every revision of the run.
func checkComplete(ref map[revKey]refEvent, in Run) []error {
	var errs []error
	keys := sortedKeys(ref)
	for _, s := range in.Streams {
		have := map[revKey]bool{}
		for _, ev := range s.Events {
			if ev.Kv != nil {
				have[revKey{ev.Kv.ModRevision, string(ev.Kv.Key)}] = true
			}
		}
		var missing []revKey
		for _, k := range keys {
			if k.rev >= s.StartRev && k.rev <= in.LastRev && strings.HasPrefix(k.key, s.Prefix) && !have[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("%s: %d events other watchers saw are missing, first %v", s.Name, len(missing), missing[:min(5, len(missing))]))
		}
	}
	if in.Gapless && len(in.Streams) > 0 {
		errs = append(errs, checkGapless(ref, in)...)
	}
	return errs
}

func checkGapless(ref map[revKey]refEvent, in Run) []error {
	revs := map[int64]bool{}
	for k := range ref {
		revs[k.rev] = true
	}
	start := in.Streams[0].StartRev
	for _, s := range in.Streams {
		start = min(start, s.StartRev)
	}
	var gaps []int64
	for r := start; r <= in.LastRev; r++ {
		if !revs[r] {
			gaps = append(gaps, r)
		}
	}
	if len(gaps) > 0 {
		return []error{fmt.Errorf("no watcher saw revisions %v (of %d..%d): lost events", gaps[:min(10, len(gaps))], start, in.LastRev)}
	}
	return nil
}

func sortedKeys(ref map[revKey]refEvent) []revKey {
	keys := make([]revKey, 0, len(ref))
	for k := range ref {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b revKey) int {
		if a.rev != b.rev {
			return cmp.Compare(a.rev, b.rev)
		}
		return strings.Compare(a.key, b.key)
	})
	return keys
}
