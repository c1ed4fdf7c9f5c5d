package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/ballot"
)

type metrics struct {
	accepted      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	appendSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_accepted_total", Help: "Votes held by Redis and acknowledged."}, []string{"option"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_rejected_total", Help: "Votes refused, by reason."}, []string{"reason"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vote_append_seconds", Help: "Time for Redis to take one vote.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10)}),
	}
	reg.MustRegister(m.accepted, m.rejected, m.appendSeconds)
	// Every series exists from the start, so rates and alerts see zeros.
	for _, o := range ballot.Options {
		m.accepted.WithLabelValues(o)
	}
	for _, r := range []string{"invalid_option", "malformed_json", "content_type", "unavailable"} {
		m.rejected.WithLabelValues(r)
	}
	return m
}
