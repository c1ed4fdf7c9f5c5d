// Package relay moves the vote stream into PostgreSQL: read a batch
// through the consumer group, parse it, keep each voter's latest vote per
// poll, create from the poll copy the polls it names whose create entry is
// still on its way (in another worker's batch), apply it in one
// transaction, publish the tallies it changed, write them into the vote
// servers' poll copy, then acknowledge the entries.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"livevote/shared/backoff"
	"livevote/shared/tally"
	"livevote/worker/internal/votedb"
	"livevote/worker/internal/votestream"
)

// Store is the database of record.
type Store interface {
	Migrate(ctx context.Context) ([]int64, error)
	Apply(ctx context.Context, b votedb.Batch) (votedb.Result, error)
	Recent(ctx context.Context, d time.Duration) ([]tally.Tally, error)
	Polls(ctx context.Context) ([]votedb.Stored, error)
	Existing(ctx context.Context, ids []string) ([]string, error)
	Tallies(ctx context.Context, ids []string) (map[string]tally.Tally, error)
	Epoch(ctx context.Context) (string, error)
}

// Publisher announces a committed tally.
type Publisher interface {
	Publish(t tally.Tally) error
}

// PollCopy is the vote servers' copy of the polls in Redis.
type PollCopy interface {
	WriteTallies(ctx context.Context, tallies []tally.Tally) error
	SpreadStates(ctx context.Context, states []votedb.StateChange) error
	Restore(ctx context.Context, polls []votedb.Stored) (int, error)
	Definitions(ctx context.Context, ids []string) (map[string]string, error)
}

// Config tunes a Relay.
type Config struct {
	// BatchSize is the most entries read at once.
	BatchSize int
	// Block is how long one read waits for new entries; it bounds how long
	// a stop waits for the read in flight.
	Block time.Duration
	// ClaimIdle is how long an entry must have been pending with another
	// consumer before it is taken over.
	ClaimIdle time.Duration
	// Grace is how long a stop lets the batch in flight finish before
	// handing it back to the group.
	Grace time.Duration
	// ConsumerIdle is how long a consumer with nothing pending stays in the
	// group before it is removed as gone.
	ConsumerIdle time.Duration
	// Shard is the shard of the stream this relay reads; the relay of shard
	// 0 announces the recent tallies at start for the whole worker.
	Shard int
	// Leftover marks a relay of a stream of another VOTE_STREAM_SHARDS,
	// started to drain it: it neither restores poll copies nor announces.
	Leftover bool
}

// announceWindow is how far back a reconnection to NATS announces tallies
// again: longer than any outage a subscriber would not notice by itself.
const announceWindow = 10 * time.Minute

// Relay is one consumer of the vote stream.
type Relay struct {
	logger  *slog.Logger
	stream  *votestream.Stream
	store   Store
	pub     Publisher
	copy    PollCopy
	metrics *Metrics
	cfg     Config
	retry   backoff.Backoff // the template of every retry's delays
	known   knownPolls      // polls seen in PostgreSQL
	epoch   string          // the database's epoch last followed (epoch.go)
	epochAt time.Time       // when checkEpoch last read it
	full    bool            // Redis refused the poll copy: full (full.go)
}

// New returns a Relay.
func New(logger *slog.Logger, stream *votestream.Stream, store Store, pub Publisher, pc PollCopy, m *Metrics, cfg Config) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 4000
	}
	if cfg.Block <= 0 {
		cfg.Block = time.Second
	}
	if cfg.ClaimIdle <= 0 {
		cfg.ClaimIdle = 5 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.ConsumerIdle <= 0 {
		cfg.ConsumerIdle = 10 * time.Minute
	}
	return &Relay{logger: logger, stream: stream, store: store, pub: pub, copy: pc, metrics: m, cfg: cfg, known: knownPolls{}}
}

// Run consumes the stream until ctx ends, then finishes the batch in flight
// (or hands it back when it cannot within the grace period) and returns.
// It starts by migrating the schema (waiting for PostgreSQL as long as it
// takes), restoring the poll copy and announcing the recent tallies (a
// previous worker may have died between a commit and its publish).
func (r *Relay) Run(ctx context.Context) error {
	if err := r.migrate(ctx); err != nil {
		return nil // ctx ended first
	}
	if !r.cfg.Leftover {
		r.restoreCopy(ctx)
		if r.cfg.Shard == 0 {
			r.Reannounce(ctx)
		}
	}
	var (
		bo          = r.retry
		groupReady  bool
		lostCopy    bool // the group went, and with it (likely) the poll copy
		lastClaim   time.Time
		lastCleanup = time.Now()
		down        bool
	)
	// failed sorts an error: a lost consumer group (Redis restarted without
	// its data, or the stream deleted) is recreated at once, with the poll
	// copy that went with it; anything else is an outage to wait out.
	failed := func(what string, err error) {
		if errors.Is(err, votestream.ErrGroupLost) {
			if groupReady {
				r.logger.Warn("consumer group lost; recreating it", "stream", r.stream.Key(), "error", err)
			}
			groupReady, lostCopy = false, true
			return
		}
		if !down {
			r.logger.Warn("redis unavailable; retrying", "during", what, "error", err)
			down = true
		}
		r.metrics.RedisErrors.Inc()
		bo.Wait(ctx)
	}
	for ctx.Err() == nil {
		if !groupReady {
			if err := r.stream.CreateGroup(ctx); err != nil {
				failed("creating consumer group", err)
				continue
			}
			if lostCopy && !r.cfg.Leftover {
				r.restoreCopy(ctx)
			}
			lostCopy = false
			groupReady = true
		}
		if time.Since(lastClaim) >= r.cfg.ClaimIdle/4 {
			if err := r.claimAbandoned(ctx); err != nil {
				failed("claiming abandoned entries", err)
				continue
			}
			r.sample(ctx)
			lastClaim = time.Now()
		}
		r.checkEpoch(ctx)
		if time.Since(lastCleanup) >= time.Minute {
			r.removeIdleConsumers(ctx)
			lastCleanup = time.Now()
		}
		msgs, err := r.stream.Read(ctx, r.cfg.BatchSize, r.cfg.Block)
		if err != nil {
			failed("reading stream", err)
			continue
		}
		if down {
			r.logger.Info("redis available again")
			down = false
		}
		bo.Reset()
		r.handle(ctx, msgs, false)
	}
	return nil
}

// claimAbandoned takes over the entries another consumer left pending for
// longer than ClaimIdle (it died or hangs) and processes them.
func (r *Relay) claimAbandoned(ctx context.Context) error {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := r.stream.Claim(ctx, start, r.cfg.ClaimIdle, r.cfg.BatchSize)
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			r.metrics.Claimed.Add(float64(len(msgs)))
			r.logger.Info("claimed abandoned entries", "entries", len(msgs))
			r.handle(ctx, msgs, true)
		}
		if next == "0-0" {
			return nil
		}
		start = next
	}
	return nil
}

// handle applies, publishes, copies and acknowledges one batch. It retries
// PostgreSQL and Redis until they answer; once ctx ends it keeps trying for
// Grace, then leaves the entries pending for another worker to claim.
func (r *Relay) handle(ctx context.Context, msgs []redis.XMessage, claimed bool) {
	if len(msgs) == 0 {
		return
	}
	fctx, cancel := afterGrace(ctx, r.cfg.Grace)
	defer cancel()
	start := time.Now()
	step := stepTimer{h: r.metrics.StepSeconds, at: start}
	ids := make([]string, len(msgs))
	var batch votedb.Batch
	for i, m := range msgs {
		ids[i] = m.ID
		if err := addEntry(&batch, m); err != nil {
			// Such an entry can never become valid: drop it, loudly.
			r.metrics.Invalid.Inc()
			r.logger.Error("dropping invalid stream entry", "id", m.ID, "error", err)
		}
	}
	step.done("parse")
	batch.Votes = votedb.Latest(batch.Votes)
	step.done("latest")
	if err := r.addMissingCreates(fctx, &batch); err != nil {
		r.logger.Warn("batch handed back unwritten", "entries", len(msgs), "first_id", ids[0], "error", err)
		return
	}
	step.done("known")

	var res votedb.Result
	err := backoff.Retry(fctx, r.retry, func() error {
		var err error
		res, err = r.store.Apply(fctx, batch)
		return err
	}, func(err error, attempt int) {
		r.metrics.DBErrors.Inc()
		if attempt == 1 {
			r.logger.Warn("writing batch failed; retrying", "entries", len(msgs), "error", err)
		}
	})
	if err != nil {
		r.logger.Warn("batch handed back unwritten", "entries", len(msgs), "first_id", ids[0], "error", err)
		return
	}
	step.done("apply")
	r.noticeEpoch(fctx, res.Epoch)
	r.rememberPolls(res)
	if res.Invalid > 0 {
		r.metrics.Invalid.Add(float64(res.Invalid))
		r.logger.Error("dropped stream entries for polls or options that do not exist",
			"entries", res.Invalid, "first_id", ids[0])
	}
	// A claimed batch may be one whose first worker died between commit and
	// publish: announce its polls' tallies even when this pass changed
	// nothing.
	changed := res.Changed()
	if claimed {
		changed = res.Tallies()
	}
	// Announced as soon as it is committed: viewers wait for this, not for
	// the copy or the acknowledgement.
	for _, t := range changed {
		r.publish(t)
	}
	step.done("publish")
	err = backoff.Retry(fctx, r.retry, func() error {
		if err := r.copy.SpreadStates(fctx, batch.States); err != nil {
			return r.skipFull("writing the poll copy", err)
		}
		return r.skipFull("writing the poll copy", r.copy.WriteTallies(fctx, changed))
	}, r.redisFailed("writing the poll copy", len(msgs)))
	if err != nil {
		// Unacknowledged, the batch comes back to a worker, which writes
		// the copy then; applying it again changes nothing.
		r.logger.Warn("batch committed but its poll copy not written; it will be redelivered harmlessly", "entries", len(msgs), "error", err)
		return
	}
	step.done("copy")
	err = backoff.Retry(fctx, r.retry, func() error {
		return r.stream.Ack(fctx, ids...)
	}, r.redisFailed("acknowledging batch", len(msgs)))
	if err != nil {
		r.logger.Warn("batch committed but not acknowledged; it will be redelivered harmlessly", "entries", len(msgs), "error", err)
		return
	}
	step.done("ack")
	r.metrics.Processed.Add(float64(len(msgs)))
	r.metrics.Batches.Inc()
	r.metrics.BatchSize.Observe(float64(len(msgs)))
	r.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	r.logger.Debug("batch done", "entries", len(msgs), "ballots", res.Ballots, "polls_changed", len(changed))
}

func (r *Relay) redisFailed(what string, entries int) func(error, int) {
	return func(err error, attempt int) {
		r.metrics.RedisErrors.Inc()
		if attempt == 1 {
			r.logger.Warn(what+" failed; retrying", "entries", entries, "error", err)
		}
	}
}

func (r *Relay) publish(t tally.Tally) {
	if err := r.pub.Publish(t); err != nil {
		// Result servers reload the tallies from PostgreSQL when they
		// reconnect and every few seconds, so a lost announcement delays
		// nothing for long.
		r.metrics.PublishErrors.Inc()
		r.logger.Warn("publishing tally failed", "poll", t.Poll, "version", t.Version, "error", err)
		return
	}
	r.metrics.Published.Inc()
}

// Reannounce publishes again the tallies of the polls that changed in the
// last minutes: after NATS comes back, subscribers cut off with the worker
// may have missed them.
func (r *Relay) Reannounce(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tallies, err := r.store.Recent(qctx, announceWindow)
	if err != nil {
		r.logger.Warn("announcing recent tallies failed", "error", err)
		return
	}
	for _, t := range tallies {
		r.publish(t)
	}
	if len(tallies) > 0 {
		r.logger.Info("announced recent tallies", "polls", len(tallies))
	}
}

// migrate applies the schema's migrations, retrying until PostgreSQL
// answers or ctx ends.
func (r *Relay) migrate(ctx context.Context) error {
	return backoff.Retry(ctx, r.retry, func() error {
		applied, err := r.store.Migrate(ctx)
		if len(applied) > 0 {
			r.logger.Info("schema migrated", "versions", applied)
		}
		return err
	}, func(err error, attempt int) {
		r.metrics.DBErrors.Inc()
		if attempt == 1 {
			r.logger.Warn("migrating the schema failed; retrying", "error", err)
		}
	})
}

// restoreCopy puts the polls Redis lost back into the poll copy from
// PostgreSQL, and the database's tallies into the copies of another epoch
// (the database was restored while no worker ran), retrying until both
// answer or ctx ends.
func (r *Relay) restoreCopy(ctx context.Context) {
	var n int
	err := backoff.Retry(ctx, r.retry, func() error {
		polls, err := r.store.Polls(ctx)
		if err != nil {
			return err
		}
		if n, err = r.copy.Restore(ctx, polls); err != nil {
			return r.skipFull("restoring the poll copy", err)
		}
		tallies := make([]tally.Tally, len(polls))
		for i, p := range polls {
			tallies[i] = p.Tally
		}
		return r.skipFull("restoring the poll copy", r.copy.WriteTallies(ctx, tallies))
	}, func(err error, attempt int) {
		if attempt == 1 {
			r.logger.Warn("restoring the poll copy failed; retrying", "error", err)
		}
	})
	if err != nil {
		return // ctx ended
	}
	if n > 0 {
		r.logger.Info("restored polls missing from redis", "polls", n)
	}
}

// sample records the stream's backlog for /metrics.
func (r *Relay) sample(ctx context.Context) {
	s, err := r.stream.Sample(ctx)
	if err != nil {
		return
	}
	key := r.stream.Key()
	r.metrics.StreamLength.WithLabelValues(key).Set(float64(s.Length))
	r.metrics.Pending.WithLabelValues(key).Set(float64(s.Pending))
	r.metrics.OldestPending.WithLabelValues(key).Set(s.OldestPendingAge.Seconds())
}

// removeIdleConsumers forgets consumers of stopped workers.
func (r *Relay) removeIdleConsumers(ctx context.Context) {
	removed, err := r.stream.RemoveIdleConsumers(ctx, r.cfg.ConsumerIdle)
	for _, name := range removed {
		r.logger.Info("removed idle consumer", "consumer", name)
	}
	if err != nil {
		r.logger.Debug("removing idle consumers", "error", err)
	}
}

// stepTimer records how long each step of a batch took, so that a slow
// drain shows which step to look at.
type stepTimer struct {
	h  *prometheus.HistogramVec
	at time.Time
}

// done records the time since the previous step ended as step's.
func (s *stepTimer) done(step string) {
	now := time.Now()
	s.h.WithLabelValues(step).Observe(now.Sub(s.at).Seconds())
	s.at = now
}
