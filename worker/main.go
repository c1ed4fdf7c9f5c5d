// Command worker moves votes and poll commands from the Redis stream into
// PostgreSQL, publishes each changed poll's tally on NATS and keeps the
// vote servers' copy of the polls in Redis.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/cmdline"
	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/opsmetrics"
	"livevote/worker/internal/config"
	"livevote/worker/internal/pollcopy"
	"livevote/worker/internal/relay"
	"livevote/worker/internal/tallypub"
	"livevote/worker/internal/votedb"
	"livevote/worker/internal/votestream"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		os.Exit(1)
	}
}

// run runs the worker; `worker migrate` applies the schema's migrations and
// exits; `worker healthcheck` asks the running worker's /healthz.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	line, err := cmdline.Parse("worker", args, stdout, "migrate", "healthcheck")
	if err != nil || line.Done {
		return err
	}
	if line.Subcommand == "migrate" && len(line.Args) > 0 {
		return fmt.Errorf("unknown arguments %q; usage: worker migrate", line.Args)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger, err := logging.New(stdout, "worker", cfg.LogLevel)
	if err != nil {
		return err
	}
	switch line.Subcommand {
	case "migrate":
		return migrate(ctx, cfg, logger)
	case "healthcheck":
		return health.Healthcheck(ctx, line.Args, cfg.Addr, stdout)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("WORKER_ADDR=%s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	rdb := cfg.NewRedis()
	defer rdb.Close()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	store := votedb.New(pool)

	pub, err := tallypub.Connect(cfg.NATSURL, cfg.Subject, logger)
	if err != nil {
		return err
	}
	defer pub.Close()
	monitor := health.NewMonitor(logger, 2*time.Second,
		health.Check{Name: "redis", Probe: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		health.Check{Name: "postgres", Probe: store.Ping},
		health.Check{Name: "nats", Probe: pub.Check},
	)

	reg := opsmetrics.NewRegistry("worker", monitor.Up, "redis", "postgres", "nats")
	reg.MustRegister(pub.Reconnects, opsmetrics.NewPoolCollector(func() opsmetrics.PoolStat { return pool.Stat() }))

	consumer := consumerName()
	// One relay per shard of the stream, each its own consumer of the
	// shard's group: together they read every shard, and each claims what
	// dead workers left pending on its shard.
	metrics := relay.NewMetrics(reg)
	relays := make([]*relay.Relay, cfg.Shards.N())
	for k := range relays {
		rlog := logger
		if cfg.Shards.N() > 1 {
			rlog = logger.With("stream", cfg.Shards.Key(k))
		}
		relays[k] = relay.New(rlog, votestream.New(rdb, cfg.Shards.Key(k), cfg.Group, consumer), store, pub,
			pollcopy.New(rdb, cfg.Shards, k), metrics, relay.Config{
				BatchSize: cfg.BatchSize, ClaimIdle: cfg.ClaimIdle, Shard: k,
			})
	}
	pub.OnReconnect(func() { relays[0].Reannounce(ctx) })

	srv := &http.Server{Handler: routes(monitor, reg), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health server stopped", "error", err)
		}
	}()
	go monitor.Run(ctx, 2*time.Second)
	logger.Info("worker starting", "addr", ln.Addr().String(), "stream", cfg.Stream, "shards", cfg.Shards.N(),
		"group", cfg.Group, "consumer", consumer, "subject", cfg.Subject)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		drainLeftovers(ctx, logger, rdb, cfg.Shards, func(key string) *relay.Relay {
			return relay.New(logger.With("stream", key), votestream.New(rdb, key, cfg.Group, consumer), store, pub,
				pollcopy.New(rdb, cfg.Shards, 0), metrics, relay.Config{
					BatchSize: cfg.BatchSize, ClaimIdle: cfg.ClaimIdle, Leftover: true,
				})
		})
	}()
	for _, r := range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				logger.Error("relay stopped", "error", err)
			}
		}()
	}
	wg.Wait()

	logger.Info("worker stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	logger.Info("worker stopped")
	return nil
}

// leftoverEvery is how often a worker looks for streams of another
// VOTE_STREAM_SHARDS that hold entries.
const leftoverEvery = 30 * time.Second

// drainLeftovers starts a relay for each stream of another
// VOTE_STREAM_SHARDS that holds entries (the setting was changed before
// the workers drained it, or a vote server runs with another value), so
// no acknowledged vote waits unread; it looks at start and every
// leftoverEvery until ctx ends, and returns when the relays it started
// have stopped. A relay started for such a stream stays, reading nothing
// once it is empty, until the worker stops.
func drainLeftovers(ctx context.Context, logger *slog.Logger, rdb redis.UniversalClient, shards ballot.Shards,
	start func(key string) *relay.Relay) {
	var wg sync.WaitGroup
	defer wg.Wait()
	own := map[string]bool{}
	for _, k := range shards.Keys() {
		own[k] = true
	}
	tick := time.NewTicker(leftoverEvery)
	defer tick.Stop()
	for {
		keys, err := leftoverStreams(ctx, rdb, shards)
		if err != nil && ctx.Err() == nil {
			logger.Debug("looking for streams of another VOTE_STREAM_SHARDS", "error", err)
		}
		for _, key := range keys {
			if own[key] {
				continue
			}
			own[key] = true
			logger.Warn("reading a stream of another VOTE_STREAM_SHARDS that holds entries; every vote server and worker must have the same value",
				"stream", key, "shards", shards.N())
			r := start(key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.Run(ctx); err != nil {
					logger.Error("relay stopped", "stream", key, "error", err)
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// leftoverStreams lists the streams of shards' prefix under any setting
// (the bare prefix, and "<prefix>:{k}" for every k a setting may have)
// that hold entries: one XLEN each, in one pipeline (split by node on a
// cluster), whatever else the Redis holds.
func leftoverStreams(ctx context.Context, rdb redis.UniversalClient, shards ballot.Shards) ([]string, error) {
	all, err := ballot.NewShards(shards.Prefix(), ballot.MaxShards)
	if err != nil {
		return nil, err
	}
	keys := append([]string{shards.Prefix()}, all.Keys()...)
	cmds := make([]*redis.IntCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.XLen(ctx, key)
		}
		return nil
	})
	var out []string
	for i, cmd := range cmds {
		if n, cerr := cmd.Result(); cerr == nil && n > 0 {
			out = append(out, keys[i])
		}
	}
	if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "WRONGTYPE") {
		err = nil // a key of another type: not a stream of ours
	}
	return out, err
}

// migrate is `worker migrate`: it applies the schema's migrations, as the
// role that owns the schema, and returns. Run before the workers, it lets
// them connect with a role that may only read and write rows.
func migrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	cc := cfg.Postgres.ConnConfig
	logger.Info("migrating the schema", "host", cc.Host, "database", cc.Database, "user", cc.User)
	start := time.Now()
	applied, err := votedb.New(pool).Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		logger.Info("schema already current")
		return nil
	}
	logger.Info("schema migrated", "versions", applied, "duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// consumerName names this process in the consumer group: host, pid and a
// random suffix, so a restarted worker never mistakes another's entries
// for its own.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:6])
}
