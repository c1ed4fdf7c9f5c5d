package web

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/poll"
)

type metrics struct {
	accepted      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	appendSeconds prometheus.Histogram
	polls         *prometheus.CounterVec
	crossSite     prometheus.Counter
	limited       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_accepted_total", Help: "Votes held by Redis and acknowledged, by option id."}, []string{"option"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_rejected_total", Help: "Votes refused, by reason."}, []string{"reason"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vote_append_seconds", Help: "Time for Redis to take one vote.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10)}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_poll_commands_total", Help: "Polls created, closed and reopened."}, []string{"op"}),
		crossSite: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vote_cross_site_refused_total", Help: "Posts refused (403) because a browser sent them from another site."}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_rate_limited_total", Help: "Events over a rate limit of their client address, by limit: votes refused (429), new voter ids refused or withheld from a page."}, []string{"limit"}),
	}
	reg.MustRegister(m.accepted, m.rejected, m.appendSeconds, m.polls, m.crossSite, m.limited)
	// Every series exists from the start, so rates and alerts see zeros.
	// Option ids are bounded (a to l), so labelling by them stays small.
	for i := 0; i < poll.MaxOptions; i++ {
		m.accepted.WithLabelValues(poll.OptionID(i))
	}
	for _, r := range []string{"invalid_option", "malformed_json", "content_type", "unknown_poll", "closed", "rate_limited", "full", "not_replicated", "unavailable"} {
		m.rejected.WithLabelValues(r)
	}
	for _, l := range []string{"new_voters", "votes"} {
		m.limited.WithLabelValues(l)
	}
	for _, op := range []string{"create", "close", "reopen"} {
		m.polls.WithLabelValues(op)
	}
	return m
}

// appendTimer starts timing one append; calling the result observes it.
func (m *metrics) appendTimer() func() {
	start := time.Now()
	return func() { m.appendSeconds.Observe(time.Since(start).Seconds()) }
}
