// Command result serves the live results of every poll: the results and
// presenter pages, the tally as JSON and CSV, and a WebSocket that pushes
// each poll's new tallies.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/result/internal/config"
	"livevote/result/internal/feed"
	"livevote/result/internal/hub"
	"livevote/result/internal/polldb"
	"livevote/result/internal/web"
	"livevote/shared/cmdline"
	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/opsmetrics"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "result: %v\n", err)
		os.Exit(1)
	}
}

// run serves the results; `result healthcheck` asks the running server's
// /healthz.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	line, err := cmdline.Parse("result", args, stdout, "healthcheck")
	if err != nil || line.Done {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if line.Subcommand == "healthcheck" {
		return health.Healthcheck(ctx, line.Args, cfg.Addr, stdout)
	}
	logger, err := logging.New(stdout, "result", cfg.LogLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("RESULT_ADDR=%s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	store := polldb.NewPool(pool, cfg.DefaultPoll)

	// The monitor's checks are bound below, once the feed exists.
	var monitor *health.Monitor
	reg := opsmetrics.NewRegistry("result", func(dep string) bool { return monitor.Up(dep) }, "postgres", "nats")
	reg.MustRegister(opsmetrics.NewPoolCollector(func() opsmetrics.PoolStat { return pool.Stat() }))
	h := hub.New(hub.NewMetrics(reg), poll.DefaultID)
	fd := feed.New(logger, store, h, cfg.Subject, reg)
	nc, err := fd.Connect(cfg.NATSURL)
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	monitor = health.NewMonitor(logger, 2*time.Second,
		health.Check{Name: "postgres", Probe: fd.CheckPostgres},
		health.Check{Name: "nats", Probe: fd.CheckNATS},
	)
	app, err := web.NewServer(logger, cfg, web.Deps{Polls: store, Tallies: fd, Hub: h, Monitor: monitor, Registry: reg})
	if err != nil {
		nc.Close()
		return err
	}
	go monitor.Run(ctx, 2*time.Second)
	go fd.Run(ctx, feed.ReloadEvery)

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	logger.Info("result server listening", "addr", ln.Addr().String(), "subject", tally.Wildcard(cfg.Subject))

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
