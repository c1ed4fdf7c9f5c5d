// Package buildinfo tells which build of the system a binary is: the
// version and revision stamped at link time (make build and the images
// pass -ldflags "-X livevote/shared/buildinfo.version=… -X
// livevote/shared/buildinfo.revision=…"), else what the Go toolchain
// recorded in the binary (the module's version, the VCS revision), and
// reports it as the build_info gauge every server exports.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are set by the linker (-X); empty in a plain go
// build, which falls back to the toolchain's record.
var version, revision string

// Unknown stands for a version or revision nothing recorded.
const Unknown = "unknown"

// Info is one binary's build.
type Info struct {
	// Version is a release tag or git describe's output ("v1.2.0",
	// "v1.2.0-3-gabc1234-dirty"); "devel" for an unstamped build from a
	// work tree.
	Version string
	// Revision is the VCS commit the binary was built from, with "-dirty"
	// when the work tree had changes; Unknown when nothing recorded it.
	Revision string
	// GoVersion is the toolchain that built it ("go1.26.0").
	GoVersion string
}

// Get returns this binary's build.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi)
}

// resolve prefers what the linker stamped, then the toolchain's record in
// bi (nil when the binary holds none).
func resolve(stampedVersion, stampedRevision string, bi *debug.BuildInfo) Info {
	info := Info{Version: stampedVersion, Revision: stampedRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Revision == "" {
			info.Revision = vcsRevision(bi.Settings)
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Revision == "" {
		info.Revision = Unknown
	}
	return info
}

// vcsRevision is the commit go build recorded (-buildvcs), "-dirty" added
// when the work tree was modified.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// String is the line `<binary> -version` prints, after the binary's name:
// "v1.2.0 (revision 0123abc…, go1.26.0)".
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Collector returns the gauge build_info{version,revision,goversion},
// always 1, so a query can tell which build each instance runs (and join
// it to other series by instance).
func Collector() prometheus.Collector {
	i := Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "build_info",
		Help:        "The build this process runs: always 1, its version, VCS revision and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	}, func() float64 { return 1 })
}
