// Package feed keeps the hub's tallies current: the tallies the worker
// pushes on NATS (one wildcard subscription for every poll), and a reload
// from PostgreSQL, in one query for every poll the hub holds, at start,
// after every NATS (re)connection (announcements may have been missed),
// every 15 s as a safety net, and soon after a tally of another database
// epoch arrives (the database may have been restored: only a read of it
// switches the hub's epoch). It also owns the readiness of both.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/hub"
	"livevote/shared/backoff"
	"livevote/shared/tally"
)

// Store reads committed tallies.
type Store interface {
	// Tallies reads the tallies of the polls ids in one query; a poll that
	// does not exist is not in the answer.
	Tallies(ctx context.Context, ids []string) (map[string]tally.Tally, error)
	Ping(ctx context.Context) error
}

// Hub keeps the newest tally of the polls it holds.
type Hub interface {
	// Offer takes a tally that came over NATS.
	Offer(t tally.Tally) hub.Outcome
	// Stored takes tallies read from the database by a query that began
	// at began (all: of every poll held) and reports whether they are of
	// another epoch than the last.
	Stored(tallies map[string]tally.Tally, all bool, began time.Time) bool
	Hold(id string)
	Current(id string) (tally.Tally, []byte, bool)
	Held() []string
	Sweep(idleSince time.Time) int
}

// ErrUnknownPoll reports a poll the database has no tally for.
var ErrUnknownPoll = errors.New("feed: no such poll")

// Timing of the reloads.
const (
	// ReloadEvery is how often every held poll is read again even when
	// NATS looks healthy: a safety net for an announcement lost with a
	// worker that died between its commit and its publish, and how a
	// database restored from a backup shows within 10 s (the contract allows 15).
	ReloadEvery = 10 * time.Second
	// idleAfter is how long a poll nobody looks at stays held.
	idleAfter = 10 * time.Minute
	// queryTimeout bounds one read of PostgreSQL.
	queryTimeout = 5 * time.Second
	// epochReloadEvery bounds the reloads that tallies of another epoch
	// ask for: a stream of them (a worker of another database, an old
	// worker's tallies without epoch) costs at most one read a second.
	epochReloadEvery = time.Second
)

// Feed feeds a Hub.
type Feed struct {
	logger  *slog.Logger
	store   Store
	hub     Hub
	metrics *Metrics
	subject string
	reload  chan struct{}
	loaded  atomic.Bool
	nc      atomic.Pointer[nats.Conn]
	// lastNATS is when the last tally came over NATS (unix nanoseconds).
	lastNATS atomic.Int64
	// lastEpochReload is when a tally of another epoch last asked for a
	// reload (unix nanoseconds).
	lastEpochReload atomic.Int64
}

// New returns a Feed of the tallies published under subject (TALLY_SUBJECT)
// into hub, reporting its metrics to reg.
func New(logger *slog.Logger, store Store, hub Hub, subject string, reg prometheus.Registerer) *Feed {
	f := &Feed{logger: logger, store: store, hub: hub, subject: subject, reload: make(chan struct{}, 1)}
	f.metrics = newMetrics(reg, f)
	return f
}

// Connect dials NATS at url (retrying in the background while it is down)
// and subscribes once to every poll's tallies. Every connection and
// reconnection asks for a reload, since tallies published while this
// server was away are gone. Drain the connection at shutdown.
func (f *Feed) Connect(url string) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name("result"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ConnectHandler(func(c *nats.Conn) {
			// Redacted: NATS_URL carries the result user's password.
			f.logger.Info("nats connected", "url", c.ConnectedUrlRedacted())
			f.Reload()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			f.logger.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			f.logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			f.metrics.Reconnects.Inc()
			f.Reload()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	if _, err := nc.Subscribe(tally.Wildcard(f.subject), f.receive); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribing to %s: %w", tally.Wildcard(f.subject), err)
	}
	f.nc.Store(nc)
	return nc, nil
}

func (f *Feed) receive(m *nats.Msg) {
	var t tally.Tally
	if err := json.Unmarshal(m.Data, &t); err != nil {
		f.invalid(m.Subject, err)
		return
	}
	// A tally is only believed on its own poll's subject.
	if id, ok := tally.PollFromSubject(f.subject, m.Subject); !ok || id != t.Poll {
		f.invalid(m.Subject, fmt.Errorf("tally of poll %q on another poll's subject", t.Poll))
		return
	}
	f.metrics.Received.Inc()
	f.lastNATS.Store(time.Now().UnixNano())
	switch f.hub.Offer(t) {
	case hub.OtherEpoch:
		// Either the database changed under this server (a restore: read
		// it now) or the tally is not of this database's history; in both
		// cases the database decides.
		f.metrics.Refused.WithLabelValues("epoch").Inc()
		if f.reloadSoon() {
			f.logger.Info("tally of another database epoch; reading the database", "poll", t.Poll, "epoch", t.Epoch)
		}
	case hub.TooFarAhead:
		f.metrics.Refused.WithLabelValues("ahead").Inc()
		f.logger.Warn("refusing tally far beyond the database's version", "poll", t.Poll, "version", t.Version)
	}
}

// reloadSoon asks for a reload unless one was asked for this way within
// epochReloadEvery; it reports whether it asked.
func (f *Feed) reloadSoon() bool {
	now := time.Now().UnixNano()
	last := f.lastEpochReload.Load()
	if now-last < int64(epochReloadEvery) || !f.lastEpochReload.CompareAndSwap(last, now) {
		return false
	}
	f.Reload()
	return true
}

func (f *Feed) invalid(subject string, err error) {
	f.metrics.Invalid.Inc()
	f.logger.Warn("ignoring malformed tally", "subject", subject, "error", err)
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

// Reload asks Run to read every held poll from PostgreSQL soon.
func (f *Feed) Reload() {
	select {
	case f.reload <- struct{}{}:
	default:
	}
}

// Run loads every held poll now, then whenever Reload is called and every
// interval (ReloadEvery in production), until ctx ends. A failed load is
// retried with backoff. Every interval it also forgets the polls nobody
// looked at lately.
func (f *Feed) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	f.Reload()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := f.hub.Sweep(time.Now().Add(-idleAfter)); n > 0 {
				f.logger.Debug("forgot idle polls", "polls", n)
			}
		case <-f.reload:
		}
		f.load(ctx)
	}
}

// load reads every held poll in one query, retrying until it succeeds or
// ctx ends.
func (f *Feed) load(ctx context.Context) {
	err := backoff.Retry(ctx, backoff.Backoff{Min: 100 * time.Millisecond, Max: 3 * time.Second}, func() error {
		ids := f.hub.Held()
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		began := time.Now()
		tallies, err := f.store.Tallies(qctx, ids)
		if err != nil {
			return err
		}
		f.metrics.Reloads.Inc()
		if f.hub.Stored(tallies, true, began) && f.loaded.Load() {
			f.logger.Info("the database's history changed (a restore or another database): showing its tallies",
				"epoch", anyEpoch(tallies))
		}
		if !f.loaded.Swap(true) {
			f.logger.Info("tallies loaded from postgres", "polls", len(tallies))
		}
		return nil
	}, func(err error, attempt int) {
		f.metrics.ReloadErrors.Inc()
		if attempt == 1 {
			f.logger.Warn("loading tallies failed; retrying", "error", err)
		}
	})
	if err != nil && ctx.Err() == nil {
		f.logger.Warn("loading tallies gave up", "error", err)
	}
}

// Tally returns poll id's newest tally and its JSON: the hub's when it
// holds the poll, else read now from PostgreSQL (and held from then on).
// ErrUnknownPoll when the database has no such poll.
func (f *Feed) Tally(ctx context.Context, id string) (tally.Tally, []byte, error) {
	if t, b, ok := f.hub.Current(id); ok {
		return t, b, nil
	}
	// Held before the read, so that a tally arriving on NATS meanwhile is
	// kept rather than lost (the read's older version then loses to it).
	f.hub.Hold(id)
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	began := time.Now()
	tallies, err := f.store.Tallies(qctx, []string{id})
	if err != nil {
		return tally.Tally{}, nil, err
	}
	if f.hub.Stored(tallies, false, began) {
		// The other held polls still show the old history.
		f.Reload()
	}
	if t, b, ok := f.hub.Current(id); ok {
		return t, b, nil
	}
	return tally.Tally{}, nil, ErrUnknownPoll
}

// anyEpoch is the epoch of tallies read at once (all have the same).
func anyEpoch(tallies map[string]tally.Tally) string {
	for _, t := range tallies {
		return t.Epoch
	}
	return ""
}

// CheckPostgres is the readiness of PostgreSQL: it answers, and the
// tallies have been loaded from it (which also needs the worker to have
// created the tables).
func (f *Feed) CheckPostgres(ctx context.Context) error {
	if err := f.store.Ping(ctx); err != nil {
		return errors.New("not answering")
	}
	if !f.loaded.Load() {
		return errors.New("tallies not loaded yet")
	}
	return nil
}

// CheckNATS is the readiness of NATS: connected.
func (f *Feed) CheckNATS(context.Context) error {
	nc := f.nc.Load()
	if nc == nil || !nc.IsConnected() {
		return errors.New("not connected")
	}
	return nil
}

// Loaded reports whether the tallies have been loaded from PostgreSQL once.
func (f *Feed) Loaded() bool { return f.loaded.Load() }

// Metrics is what the feed reports on /metrics.
type Metrics struct {
	Received prometheus.Counter
	Invalid  prometheus.Counter
	// Refused counts well-formed tallies from NATS the hub would not
	// take, by reason: "epoch" (not of the database epoch last read) or
	// "ahead" (a version far beyond the database's).
	Refused      *prometheus.CounterVec
	Reloads      prometheus.Counter
	ReloadErrors prometheus.Counter
	Reconnects   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, f *Feed) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tallies_received_total", Help: "Tallies received on NATS."}),
		Invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tallies_invalid_total", Help: "Malformed messages on the tally subjects."}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "result_tallies_refused_total",
			Help: "Well-formed tallies from NATS refused: of another database epoch than the last read (epoch), or a version far beyond the database's (ahead)."},
			[]string{"reason"}),
		Reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_reloads_total", Help: "Reloads of the held polls' tallies from PostgreSQL."}),
		ReloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_reload_errors_total", Help: "Failed reads of the tallies from PostgreSQL."}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_nats_reconnects_total", Help: "Reconnections to NATS."}),
	}
	for _, reason := range []string{"epoch", "ahead"} {
		m.Refused.WithLabelValues(reason)
	}
	reg.MustRegister(m.Received, m.Invalid, m.Refused, m.Reloads, m.ReloadErrors, m.Reconnects,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "result_seconds_since_nats_tally",
			Help: "Seconds since the last tally arrived over NATS (-1 before the first); growing while votes come in means NATS is not delivering.",
		}, func() float64 {
			if d := f.SinceNATS(); d >= 0 {
				return d.Seconds()
			}
			return -1
		}))
	return m
}
