// Package opsmetrics builds each service's Prometheus registry with the
// series every service reports: Go runtime, process, the build, and one
// up/down gauge per dependency.
package opsmetrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"livevote/shared/buildinfo"
)

// Handler serves reg in the Prometheus text format at /metrics.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// UpFunc reports whether a dependency answered at the last check
// (health.Monitor.Up).
type UpFunc func(dependency string) bool

// NewRegistry returns a registry with the Go and process collectors,
// build_info{version,revision,goversion} (buildinfo.Collector) and a gauge
// <service>_dependency_up{dependency} for each dependency.
func NewRegistry(service string, up UpFunc, dependencies ...string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector())
	for _, dep := range dependencies {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        service + "_dependency_up",
			Help:        "1 while the dependency answers, by the last background check.",
			ConstLabels: prometheus.Labels{"dependency": dep},
		}, func() float64 {
			if up(dep) {
				return 1
			}
			return 0
		}))
	}
	return reg
}
