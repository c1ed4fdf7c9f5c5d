// Package relay moves votes from the Redis stream into PostgreSQL and
// publishes each new tally: read a batch through the consumer group, commit
// it, publish the tally it committed, then acknowledge the entries.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/tally"
	"livevote/worker/internal/votedb"
)

// Store commits batches of votes.
type Store interface {
	Apply(ctx context.Context, votes []votedb.Vote) (votedb.Result, error)
}

// Publisher announces a committed tally.
type Publisher interface {
	Publish(t tally.Tally) error
}

// Config tunes a Relay.
type Config struct {
	Stream, Group, Consumer string
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
}

// Relay is one consumer of the vote stream.
type Relay struct {
	logger  *slog.Logger
	rdb     *redis.Client
	store   Store
	pub     Publisher
	metrics *Metrics
	cfg     Config
}

// New returns a Relay.
func New(logger *slog.Logger, rdb *redis.Client, store Store, pub Publisher, m *Metrics, cfg Config) *Relay {
	if cfg.Block <= 0 {
		cfg.Block = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	return &Relay{logger: logger, rdb: rdb, store: store, pub: pub, metrics: m, cfg: cfg}
}

// Run consumes the stream until ctx ends, then finishes the batch in flight
// (or hands it back when it cannot within the grace period) and returns.
func (r *Relay) Run(ctx context.Context) error {
	var (
		bo          backoff
		groupReady  bool
		lastClaim   time.Time
		lastCleanup = time.Now()
		down        bool
	)
	fail := func(what string, err error) {
		if !down {
			r.logger.Warn("redis unavailable; retrying", "during", what, "error", err)
			down = true
		}
		r.metrics.RedisErrors.Inc()
		bo.wait(ctx)
	}
	// failed sorts an error: a lost consumer group (Redis restarted without
	// persistence, or the stream deleted) is recreated at once; anything
	// else is an outage to wait out.
	failed := func(what string, err error) {
		if lostGroup(err) {
			if groupReady {
				r.logger.Warn("consumer group lost; recreating it", "stream", r.cfg.Stream, "error", err)
			}
			groupReady = false
			return
		}
		fail(what, err)
	}
	for ctx.Err() == nil {
		if !groupReady {
			if err := r.createGroup(ctx); err != nil {
				fail("creating consumer group", err)
				continue
			}
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
		if time.Since(lastCleanup) >= time.Minute {
			r.removeIdleConsumers(ctx)
			lastCleanup = time.Now()
		}
		// The read is not cut short by ctx: entries Redis hands over are
		// then always received, and a stop waits at most one Block.
		res, err := r.rdb.XReadGroup(context.WithoutCancel(ctx), &redis.XReadGroupArgs{
			Group:    r.cfg.Group,
			Consumer: r.cfg.Consumer,
			Streams:  []string{r.cfg.Stream, ">"},
			Count:    int64(r.cfg.BatchSize),
			Block:    r.cfg.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			failed("reading stream", err)
			continue
		}
		if down {
			r.logger.Info("redis available again")
			down = false
		}
		bo.reset()
		for _, s := range res {
			r.handle(ctx, s.Messages, false)
		}
	}
	return nil
}

func (r *Relay) createGroup(ctx context.Context) error {
	// From "0": votes accepted before any worker ever ran are counted too.
	err := r.rdb.XGroupCreateMkStream(ctx, r.cfg.Stream, r.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating consumer group: %w", err)
	}
	return nil
}

// lostGroup reports whether err says the stream or its group is gone:
// NOGROUP, or UNBLOCKED when the stream is deleted under a blocked read.
func lostGroup(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "NOGROUP") || strings.Contains(msg, "UNBLOCKED")
}

// claimAbandoned takes over the entries another consumer left pending for
// longer than ClaimIdle (it died or hangs) and processes them.
func (r *Relay) claimAbandoned(ctx context.Context) error {
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream:   r.cfg.Stream,
			Group:    r.cfg.Group,
			Consumer: r.cfg.Consumer,
			MinIdle:  r.cfg.ClaimIdle,
			Start:    start,
			Count:    int64(r.cfg.BatchSize),
		}).Result()
		if err != nil {
			return fmt.Errorf("claiming entries: %w", err)
		}
		if len(msgs) > 0 {
			r.metrics.Claimed.Add(float64(len(msgs)))
			r.logger.Info("claimed abandoned entries", "entries", len(msgs))
			r.handle(ctx, msgs, true)
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
	return nil
}

// handle commits, acknowledges and publishes one batch. It retries
// PostgreSQL and Redis until they answer; once ctx ends it keeps trying for
// Grace, then leaves the entries pending for another worker to claim.
func (r *Relay) handle(ctx context.Context, msgs []redis.XMessage, claimed bool) {
	if len(msgs) == 0 {
		return
	}
	fctx, cancel := afterGrace(ctx, r.cfg.Grace)
	defer cancel()
	start := time.Now()
	ids := make([]string, len(msgs))
	votes := make([]votedb.Vote, 0, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
		v, err := parseEntry(m)
		if err != nil {
			// Such an entry can never become valid: drop it, loudly.
			r.metrics.Invalid.Inc()
			r.logger.Error("dropping invalid stream entry", "id", m.ID, "error", err)
			continue
		}
		votes = append(votes, v)
	}
	votes = votedb.Latest(votes)

	var res votedb.Result
	if len(votes) > 0 {
		err := retry(fctx, func() error {
			var err error
			res, err = r.store.Apply(fctx, votes)
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
	}
	// Announced as soon as it is committed (the acknowledgement below is not
	// what viewers wait for). A claimed batch may be one whose first worker
	// died between commit and publish: announce the tally even when this
	// pass changed nothing.
	if len(votes) > 0 && (res.Bumped || claimed) {
		r.publish(res.Tally)
	}
	err := retry(fctx, func() error {
		_, err := r.rdb.TxPipelined(fctx, func(p redis.Pipeliner) error {
			p.XAck(fctx, r.cfg.Stream, r.cfg.Group, ids...)
			// One group reads the stream, so an acknowledged entry is of no
			// further use; deleting it keeps the stream as long as the backlog.
			p.XDel(fctx, r.cfg.Stream, ids...)
			return nil
		})
		return err
	}, func(err error, attempt int) {
		r.metrics.RedisErrors.Inc()
		if attempt == 1 {
			r.logger.Warn("acknowledging batch failed; retrying", "entries", len(msgs), "error", err)
		}
	})
	if err != nil {
		// Committed but still pending: a redelivery changes nothing.
		r.logger.Warn("batch committed but not acknowledged; it will be redelivered harmlessly", "entries", len(msgs), "error", err)
	}
	r.metrics.Processed.Add(float64(len(msgs)))
	r.metrics.Batches.Inc()
	r.metrics.BatchSize.Observe(float64(len(msgs)))
	r.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	r.logger.Debug("batch done", "entries", len(msgs), "changed", res.Changed, "version", res.Tally.Version)
}

func (r *Relay) publish(t tally.Tally) {
	if err := r.pub.Publish(t); err != nil {
		// Result servers reload the tally from PostgreSQL when they
		// reconnect, so a lost announcement delays nothing for long.
		r.metrics.PublishErrors.Inc()
		r.logger.Warn("publishing tally failed", "version", t.Version, "error", err)
		return
	}
	r.metrics.Published.Inc()
}

// sample records the stream's length and pending entries for /metrics.
func (r *Relay) sample(ctx context.Context) {
	if n, err := r.rdb.XLen(ctx, r.cfg.Stream).Result(); err == nil {
		r.metrics.StreamLength.Set(float64(n))
	}
	if p, err := r.rdb.XPending(ctx, r.cfg.Stream, r.cfg.Group).Result(); err == nil {
		r.metrics.Pending.Set(float64(p.Count))
	}
}

// removeIdleConsumers forgets consumers of dead workers once nothing is
// pending with them, so the group does not accumulate a name per restart.
func (r *Relay) removeIdleConsumers(ctx context.Context) {
	cs, err := r.rdb.XInfoConsumers(ctx, r.cfg.Stream, r.cfg.Group).Result()
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Name != r.cfg.Consumer && c.Pending == 0 && c.Idle > 10*time.Minute {
			if err := r.rdb.XGroupDelConsumer(ctx, r.cfg.Stream, r.cfg.Group, c.Name).Err(); err == nil {
				r.logger.Info("removed idle consumer", "consumer", c.Name)
			}
		}
	}
}

// parseEntry reads a vote from a stream entry written by the vote server.
func parseEntry(m redis.XMessage) (votedb.Vote, error) {
	seq, err := votedb.ParseSeq(m.ID)
	if err != nil {
		return votedb.Vote{}, err
	}
	voter, _ := m.Values[ballot.FieldVoter].(string)
	if !ballot.ValidVoterID(voter) {
		return votedb.Vote{}, fmt.Errorf("entry %s: %w", m.ID, ballot.ErrInvalidVoterID)
	}
	option, _ := m.Values[ballot.FieldVote].(string)
	if err := ballot.CheckOption(option); err != nil {
		return votedb.Vote{}, fmt.Errorf("entry %s: %w", m.ID, err)
	}
	return votedb.Vote{VoterID: voter, Option: option, Seq: seq}, nil
}
