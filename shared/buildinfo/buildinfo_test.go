package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}}
	}
	tests := []struct {
		name                            string
		stampedVersion, stampedRevision string
		bi                              *debug.BuildInfo
		wantVersion, wantRevision       string
	}{
		{"stamped wins", "v1.2.0", "abc123", vcs("def456", "false"), "v1.2.0", "abc123"},
		{"stamped version, revision from vcs", "v1.2.0-3-gdef456-dirty", "", vcs("def456", "true"), "v1.2.0-3-gdef456-dirty", "def456-dirty"},
		{"clean work tree", "", "", vcs("def456", "false"), "devel", "def456"},
		{"module version from the toolchain", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-def456789abc"}},
			"v0.0.0-20260101000000-def456789abc", Unknown},
		{"nothing recorded", "", "", &debug.BuildInfo{}, "devel", Unknown},
		{"no build info", "", "", nil, "devel", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.stampedVersion, tt.stampedRevision, tt.bi)
			if got.Version != tt.wantVersion || got.Revision != tt.wantRevision || got.GoVersion != runtime.Version() {
				t.Errorf("got %+v, want version %s, revision %s, go %s", got, tt.wantVersion, tt.wantRevision, runtime.Version())
			}
		})
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || families[0].GetName() != "build_info" || len(families[0].GetMetric()) != 1 {
		t.Fatalf("got %v, want one series of build_info", families)
	}
	m := families[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := Get()
	if labels["version"] != want.Version || labels["revision"] != want.Revision || labels["goversion"] != want.GoVersion || len(labels) != 3 {
		t.Errorf("got labels %v, want version %s, revision %s, goversion %s", labels, want.Version, want.Revision, want.GoVersion)
	}
	if v := m.GetGauge().GetValue(); v != 1 {
		t.Errorf("got build_info %v, want 1", v)
	}
}

func TestString(t *testing.T) {
	got := Info{Version: "v1.2.0", Revision: "abc123", GoVersion: "go1.26.0"}.String()
	if want := "v1.2.0 (revision abc123, go1.26.0)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
