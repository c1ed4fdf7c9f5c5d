// Package feed keeps the result server's tally view current: tallies
// pushed on NATS, and a reload from PostgreSQL at start, after every NATS
// reconnection (announcements may have been missed) and now and then as a
// safety net.
package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/tally"
)

// Store reads the committed tally.
type Store interface {
	Current(ctx context.Context) (tally.Tally, error)
}

// View takes tallies, keeping the newest.
type View interface {
	Offer(t tally.Tally) bool
}

// Feed feeds a View.
type Feed struct {
	logger  *slog.Logger
	store   Store
	view    View
	reload  chan struct{}
	metrics *Metrics
	// lastNATS is when the last tally came over NATS (unix nanoseconds).
	lastNATS atomic.Int64
}

// New returns a Feed into view.
func New(logger *slog.Logger, store Store, view View, m *Metrics) *Feed {
	return &Feed{logger: logger, store: store, view: view, reload: make(chan struct{}, 1), metrics: m}
}

// Subscribe receives tallies on subject. The subscription survives NATS
// reconnections.
func (f *Feed) Subscribe(nc *nats.Conn, subject string) error {
	_, err := nc.Subscribe(subject, f.receive)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	return nil
}

func (f *Feed) receive(m *nats.Msg) {
	var t tally.Tally
	if err := json.Unmarshal(m.Data, &t); err != nil {
		f.metrics.Invalid.Inc()
		f.logger.Warn("ignoring malformed tally", "subject", m.Subject, "error", err)
		return
	}
	f.metrics.Received.Inc()
	f.lastNATS.Store(time.Now().UnixNano())
	f.view.Offer(t)
}

// SinceNATS is how long ago the last tally came over NATS, or -1 before
// the first. A value that keeps growing while votes come in means the
// server is living on its PostgreSQL reloads alone.
func (f *Feed) SinceNATS() time.Duration {
	last := f.lastNATS.Load()
	if last == 0 {
		return -1
	}
	return time.Since(time.Unix(0, last))
}

// Reload asks Run to read the tally from PostgreSQL soon.
func (f *Feed) Reload() {
	select {
	case f.reload <- struct{}{}:
	default:
	}
}

// Run loads the tally now, then whenever Reload is called and every
// interval, until ctx ends. A failed load is retried with backoff.
func (f *Feed) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	f.Reload()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.reload:
		}
		f.load(ctx)
	}
}

func (f *Feed) load(ctx context.Context) {
	delay := 100 * time.Millisecond
	for attempt := 1; ctx.Err() == nil; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		t, err := f.store.Current(qctx)
		cancel()
		if err == nil {
			f.metrics.Reloads.Inc()
			if f.view.Offer(t) {
				f.logger.Debug("tally reloaded", "version", t.Version)
			}
			if attempt > 1 {
				f.logger.Info("tally loaded from postgres", "version", t.Version, "attempts", attempt)
			}
			return
		}
		if attempt == 1 {
			f.logger.Warn("loading tally failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 3*time.Second)
	}
}

// Metrics is what the feed reports on /metrics.
type Metrics struct {
	Received prometheus.Counter
	Invalid  prometheus.Counter
	Reloads  prometheus.Counter
}

// NewMetrics creates the feed's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tallies_received_total", Help: "Tallies received on NATS."}),
		Invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tallies_invalid_total", Help: "Malformed messages on the tally subject."}),
		Reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_reloads_total", Help: "Tallies read from PostgreSQL."}),
	}
	reg.MustRegister(m.Received, m.Invalid, m.Reloads)
	return m
}
