package relay

import "github.com/prometheus/client_golang/prometheus"

// Metrics is what the relay reports on /metrics.
type Metrics struct {
	Processed     prometheus.Counter
	Batches       prometheus.Counter
	BatchSize     prometheus.Histogram
	BatchSeconds  prometheus.Histogram
	StepSeconds   *prometheus.HistogramVec
	Claimed       prometheus.Counter
	Invalid       prometheus.Counter
	Published     prometheus.Counter
	PublishErrors prometheus.Counter
	RedisErrors   prometheus.Counter
	DBErrors      prometheus.Counter
	// The stream's gauges have a label, stream: the shard's key.
	StreamLength  *prometheus.GaugeVec
	Pending       *prometheus.GaugeVec
	OldestPending *prometheus.GaugeVec
}

// NewMetrics creates the relay's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	stream := []string{"stream"}
	m := &Metrics{
		Processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_processed_total", Help: "Stream entries committed and acknowledged."}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_batches_total", Help: "Batches committed."}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "worker_batch_entries", Help: "Stream entries per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "worker_batch_seconds", Help: "Time to commit, acknowledge and publish one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 10)}),
		StepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "worker_batch_step_seconds", Help: "Time of each step of a batch: parse, latest, known, apply, publish, copy, ack.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 11)}, []string{"step"}),
		Claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_claimed_total", Help: "Entries taken over from consumers that left them pending."}),
		Invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_invalid_total", Help: "Stream entries dropped: malformed, or for a poll or option that does not exist."}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_tallies_published_total", Help: "Tallies published on NATS."}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_publish_errors_total", Help: "Tallies that could not be published."}),
		RedisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_redis_errors_total", Help: "Failed Redis operations (each is retried)."}),
		DBErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_postgres_errors_total", Help: "Failed batch commits (each is retried)."}),
		StreamLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_stream_length", Help: "Entries in the vote stream's shard (the backlog)."}, stream),
		Pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_stream_pending", Help: "Entries delivered to a worker and not yet acknowledged."}, stream),
		OldestPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_stream_oldest_pending_seconds", Help: "Age of the oldest entry delivered and not yet acknowledged (0 when none)."}, stream),
	}
	reg.MustRegister(m.Processed, m.Batches, m.BatchSize, m.BatchSeconds, m.StepSeconds, m.Claimed, m.Invalid,
		m.Published, m.PublishErrors, m.RedisErrors, m.DBErrors, m.StreamLength, m.Pending, m.OldestPending)
	return m
}
