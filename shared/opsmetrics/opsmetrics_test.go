package opsmetrics

import (
	"testing"

	"livevote/shared/buildinfo"
)

// TestNewRegistry: every service's registry holds the build and its
// dependencies' gauges from the start.
func TestNewRegistry(t *testing.T) {
	reg := NewRegistry("vote", func(dep string) bool { return dep == "redis" }, "redis", "nats")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	b := buildinfo.Get()
	for key, want := range map[string]float64{
		"build_info goversion=" + b.GoVersion + " revision=" + b.Revision + " version=" + b.Version: 1,
		"vote_dependency_up dependency=redis":                                                       1,
		"vote_dependency_up dependency=nats":                                                        0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("got %s = %v (present: %v), want %v", key, v, ok, want)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no go_goroutines: the Go collector is missing")
	}
}
