// Command worker moves votes from the Redis stream into PostgreSQL and
// publishes each new tally on NATS.
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/opsmetrics"
	"livevote/worker/internal/config"
	"livevote/worker/internal/relay"
	"livevote/worker/internal/votedb"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
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
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("WORKER_ADDR=%s: %w", cfg.Addr, err)
	}

	rdb := redis.NewClient(cfg.Redis)
	defer rdb.Close()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Postgres)
	if err != nil {
		ln.Close()
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	store := votedb.New(pool)
	natsReconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "worker_nats_reconnects_total", Help: "Reconnections to NATS."})
	var announce atomic.Pointer[relay.NATSPublisher] // set once connected
	nc, err := connectNATS(cfg.NATSURL, logger, func() {
		natsReconnects.Inc()
		// Announce the current tally again: subscribers that were cut off
		// with us may have missed the last one.
		go func() {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if t, err := store.Current(qctx); err == nil && announce.Load() != nil {
				_ = announce.Load().Publish(t)
			}
		}()
	})
	if err != nil {
		ln.Close()
		return err
	}
	pub := relay.NewNATSPublisher(nc, cfg.Subject)
	announce.Store(pub)

	var schemaReady bool
	var schemaMu sync.Mutex
	monitor := health.NewMonitor(logger, 2*time.Second,
		health.Check{Name: "redis", Probe: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		health.Check{Name: "postgres", Probe: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return err
			}
			schemaMu.Lock()
			defer schemaMu.Unlock()
			if !schemaReady {
				return errors.New("schema not applied yet")
			}
			return nil
		}},
		health.Check{Name: "nats", Probe: func(context.Context) error {
			if !nc.IsConnected() {
				return fmt.Errorf("not connected (%s)", nc.Status())
			}
			return nil
		}},
	)
	reg := opsmetrics.NewRegistry("worker", monitor.Up, "redis", "postgres", "nats")
	reg.MustRegister(natsReconnects)
	metrics := relay.NewMetrics(reg)

	srv := &http.Server{Handler: routes(monitor, reg), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health server stopped", "error", err)
		}
	}()
	monCtx, monCancel := context.WithCancel(ctx)
	defer monCancel()
	go monitor.Run(monCtx, 2*time.Second)

	consumer := consumerName()
	logger.Info("worker starting", "addr", ln.Addr().String(), "stream", cfg.Stream, "group", cfg.Group,
		"consumer", consumer, "subject", cfg.Subject)

	// The schema must exist before the first batch; PostgreSQL may not be up yet.
	if err := health.WaitFor(ctx, logger, "applying schema", func() error { return store.Migrate(ctx) }); err == nil {
		schemaMu.Lock()
		schemaReady = true
		schemaMu.Unlock()
		// A previous worker may have died between a commit and its publish.
		if t, err := store.Current(ctx); err == nil {
			_ = pub.Publish(t)
		}
	}

	if ctx.Err() == nil {
		r := relay.New(logger, rdb, store, pub, metrics, relay.Config{
			Stream: cfg.Stream, Group: cfg.Group, Consumer: consumer,
			BatchSize: cfg.BatchSize, ClaimIdle: cfg.ClaimIdle,
		})
		if err := r.Run(ctx); err != nil {
			logger.Error("relay stopped", "error", err)
		}
	}

	logger.Info("worker stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	logger.Info("worker stopped")
	return nil
}

func routes(monitor *health.Monitor, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := monitor.Probe(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !st.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(st.JSON())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// connectNATS connects in the background (NATS may not be up yet) and for
// ever; onReconnect runs after each reconnection.
func connectNATS(url string, logger *slog.Logger, onReconnect func()) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name("worker"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			onReconnect()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	return nc, nil
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
