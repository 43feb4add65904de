package watchcheck

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// checkContent walks the reference history in revision order and checks
// each event against the previous event of its key: mod_revision is the
// event's revision; a put's version and create_revision continue the key's
// life (or start a new one at version 1); a delete removes a live key; and
// each stream that asked for prev_kv got exactly the key's previous value.
// For a key's first event in the run the predecessor is unknown, so the
// event's own prev_kv stands in for it (and must predate the run).
func checkContent(ref map[revKey]refEvent, streams []Stream) []error {
	var errs []error
	keys := sortedKeys(ref)
	if len(keys) == 0 {
		return nil
	}
	first := keys[0].rev
	idx := indexStreams(streams)
	prev := map[string]*mvccpb.KeyValue{} // the key's live kv; nil after a delete
	known := map[string]bool{}            // whether prev[key] is known
	for _, k := range keys {
		ev := ref[k].ev
		pred, ok := prev[k.key], known[k.key]
		if !ok {
			pred = firstPrevKV(streams, idx, k)
			if pred != nil && pred.ModRevision >= first {
				errs = append(errs, fmt.Errorf("rev %d key %q: prev_kv mod_revision %d is inside the run, but the run has no earlier event of the key", k.rev, k.key, pred.ModRevision))
			}
		}
		errs = append(errs, checkSuccession(k, ev, pred, ok)...)
		errs = append(errs, checkPrevKVs(streams, idx, k, pred, ok)...)
		known[k.key] = true
		prev[k.key] = nil
		if ev.Type == mvccpb.PUT {
			prev[k.key] = ev.Kv
		}
	}
	return errs
}

// checkSuccession checks the event's kv against its predecessor (known:
// the predecessor is from the run, so nil means "did not exist").
func checkSuccession(k revKey, ev *mvccpb.Event, pred *mvccpb.KeyValue, known bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("rev %d key %q: "+format, append([]any{k.rev, k.key}, args...)...))
	}
	if ev.Kv.ModRevision != k.rev {
		fail("mod_revision %d", ev.Kv.ModRevision)
	}
	switch ev.Type {
	case mvccpb.PUT:
		wantVersion, wantCreate := int64(1), k.rev
		if pred != nil {
			wantVersion, wantCreate = pred.Version+1, pred.CreateRevision
		}
		if (pred != nil || known) && (ev.Kv.Version != wantVersion || ev.Kv.CreateRevision != wantCreate) {
			fail("version %d create_revision %d, want %d %d after %v", ev.Kv.Version, ev.Kv.CreateRevision, wantVersion, wantCreate, pred)
		}
		if ev.Kv.Version == 1 && ev.Kv.CreateRevision != k.rev {
			fail("version 1 but create_revision %d", ev.Kv.CreateRevision)
		}
	case mvccpb.DELETE:
		if known && pred == nil {
			fail("delete of a key that did not exist")
		}
	}
	return errs
}

// checkPrevKVs: every stream with prev_kv that holds this event carries the
// predecessor (nil when the key did not exist; a delete always has one).
func checkPrevKVs(streams []Stream, idx []map[revKey]*mvccpb.Event, k revKey, pred *mvccpb.KeyValue, known bool) []error {
	var errs []error
	for i, s := range streams {
		if !s.PrevKV {
			continue
		}
		ev := idx[i][k]
		if ev == nil {
			continue
		}
		switch {
		case ev.Type == mvccpb.DELETE && ev.PrevKv == nil:
			errs = append(errs, fmt.Errorf("%s: rev %d key %q: delete without prev_kv", s.Name, k.rev, k.key))
		case (known || pred != nil) && !sameKV(ev.PrevKv, pred):
			errs = append(errs, fmt.Errorf("%s: rev %d key %q: prev_kv %v, want %v", s.Name, k.rev, k.key, ev.PrevKv, pred))
		}
	}
	return errs
}

// firstPrevKV is the prev_kv some stream carries for (rev, key), if any.
func firstPrevKV(streams []Stream, idx []map[revKey]*mvccpb.Event, k revKey) *mvccpb.KeyValue {
	for i, s := range streams {
		if ev := idx[i][k]; s.PrevKV && ev != nil && ev.PrevKv != nil {
			return ev.PrevKv
		}
	}
	return nil
}

// indexStreams maps each stream's events by (revision, key).
func indexStreams(streams []Stream) []map[revKey]*mvccpb.Event {
	idx := make([]map[revKey]*mvccpb.Event, len(streams))
	for i, s := range streams {
		idx[i] = map[revKey]*mvccpb.Event{}
		for _, ev := range s.Events {
			if ev.Kv != nil {
				idx[i][revKey{ev.Kv.ModRevision, string(ev.Kv.Key)}] = ev
			}
		}
	}
	return idx
}
