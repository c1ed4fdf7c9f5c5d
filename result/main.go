// Command result serves the live results: a page, the tally as JSON and a
// WebSocket that pushes every new tally.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/config"
	"livevote/result/internal/feed"
	"livevote/result/internal/hub"
	"livevote/result/internal/tallydb"
	"livevote/result/internal/tallyview"
	"livevote/result/internal/web"
	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/opsmetrics"
	"livevote/shared/tally"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "result: %v\n", err)
		os.Exit(1)
	}
}

// reconcileEvery is how often the tally is re-read from PostgreSQL even
// when NATS looks healthy: a safety net for an announcement lost with a
// worker that died between its commit and its publish.
const reconcileEvery = 15 * time.Second

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger, err := logging.New(stdout, "result", cfg.LogLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("RESULT_ADDR=%s: %w", cfg.Addr, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Postgres)
	if err != nil {
		ln.Close()
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	store := tallydb.New(pool)

	// The monitor's checks are bound below, once the view and NATS exist.
	var monitor *health.Monitor
	reg := opsmetrics.NewRegistry("result", func(dep string) bool { return monitor.Up(dep) }, "postgres", "nats")
	empty := tally.Empty()
	h := hub.New(hub.NewMetrics(reg), empty.Version, empty.AppendJSON(nil))
	version := prometheus.NewGauge(prometheus.GaugeOpts{Name: "result_tally_version", Help: "Version of the tally being served."})
	reg.MustRegister(version)
	view := tallyview.New(func(t tally.Tally, encoded []byte) {
		version.Set(float64(t.Version))
		h.Broadcast(t.Version, encoded)
	})
	fd := feed.New(logger, store, view, feed.NewMetrics(reg))
	natsReconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "result_nats_reconnects_total", Help: "Reconnections to NATS."})
	reg.MustRegister(natsReconnects, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "result_seconds_since_nats_tally",
		Help: "Seconds since the last tally arrived over NATS (-1 before the first); growing while votes come in means NATS is not delivering.",
	}, func() float64 {
		if d := fd.SinceNATS(); d >= 0 {
			return d.Seconds()
		}
		return -1
	}))

	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("result"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ConnectHandler(func(*nats.Conn) {
			logger.Info("nats connected")
			fd.Reload()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			// Tallies published while we were away are gone: catch up.
			logger.Info("nats reconnected")
			natsReconnects.Inc()
			fd.Reload()
		}),
	)
	if err != nil {
		ln.Close()
		return fmt.Errorf("NATS_URL: %w", err)
	}
	if err := fd.Subscribe(nc, cfg.Subject); err != nil {
		ln.Close()
		nc.Close()
		return err
	}

	monitor = health.NewMonitor(logger, 2*time.Second,
		health.Check{Name: "postgres", Probe: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return err
			}
			if !view.Loaded() {
				return errors.New("tally not loaded yet")
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
	app, err := web.NewServer(logger, cfg, view, h, monitor, reg)
	if err != nil {
		ln.Close()
		nc.Close()
		return err
	}
	go monitor.Run(ctx, 2*time.Second)
	go func() {
		if err := health.WaitFor(ctx, logger, "applying schema", func() error { return store.Migrate(ctx) }); err != nil {
			return
		}
		fd.Run(ctx, reconcileEvery)
	}()

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	logger.Info("result server listening", "addr", ln.Addr().String(), "subject", cfg.Subject)

	select {
	case err := <-errc:
		nc.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("result server stopping", "websocket_clients", h.Clients())
	// HTTP shutdown does not wait for hijacked WebSocket connections: close
	// them first, with a close frame, then stop the HTTP side.
	h.Close(5 * time.Second)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(shutCtx); err != nil {
		logger.Warn("shutdown incomplete", "error", err)
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	logger.Info("result server stopped")
	return nil
}
