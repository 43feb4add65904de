package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Names returns the name of every metric family a node exports (besides
// the Go and process collectors), sorted: the chart's dashboard and alerts
// are checked to use only these. It registers everything on a scratch
// registry, with a View that has a learner, so no family is left out.
func Names() ([]string, error) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		return nil, err
	}
	m.ObservePeerRoundTrip(1, 0) // a vector family is gathered once it has a series
	view := func() View { return View{Joint: true, LearnerLag: map[uint64]uint64{1: 1}, DBSizeBytes: 1} }
	if err := RegisterView(reg, view); err != nil {
		return nil, err
	}
	if err := RegisterFenced(reg); err != nil {
		return nil, err
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	slices.Sort(names)
	return names, nil
}
