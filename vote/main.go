// Command vote serves the vote page and API and appends each vote to the
// Redis stream.
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

	"livevote/shared/cmdline"
	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/opsmetrics"
	"livevote/vote/internal/config"
	"livevote/vote/internal/ratelimit"
	"livevote/vote/internal/votequeue"
	"livevote/vote/internal/voterkey"
	"livevote/vote/internal/web"
)

// voterKeyCheck is how often a vote server checks that Redis still holds
// the voter id key (and writes it back if Redis lost it).
const voterKeyCheck = 5 * time.Second

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "vote: %v\n", err)
		os.Exit(1)
	}
}

// run serves the vote pages and API; `vote healthcheck` asks the running
// server's /healthz.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	line, err := cmdline.Parse("vote", args, stdout, "healthcheck")
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
	logger, err := logging.New(stdout, "vote", cfg.LogLevel)
	if err != nil {
		return err
	}

	// Fail fast on a bad address or a taken port, before anything else.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("VOTE_ADDR=%s: %w", cfg.Addr, err)
	}
	rdb := cfg.NewRedis()
	defer rdb.Close()
	queue := votequeue.NewWaiting(rdb, cfg.Shards, votequeue.Wait{Replicas: cfg.WaitReplicas, Timeout: config.WaitTimeout})
	defer queue.Close()

	voters := voterkey.New(rdb, cfg.Stream, logger)
	if cfg.VoterSecret != "" {
		if voters, err = voterkey.Fixed([]byte(cfg.VoterSecret)); err != nil {
			ln.Close()
			return fmt.Errorf("VOTER_SECRET: %w", err)
		}
	}
	limits := ratelimit.New(rdb, cfg.Stream, cfg.NewVoterLimit, cfg.VoteLimit)

	monitor := health.NewMonitor(logger, 2*time.Second, health.Check{Name: "redis", Probe: queue.Ping})
	reg := opsmetrics.NewRegistry("vote", monitor.Up, "redis")
	app, err := web.NewServer(logger, cfg, queue, voters, limits, monitor, reg)
	if err != nil {
		ln.Close()
		return err
	}
	go monitor.Run(ctx, 2*time.Second)
	go voters.Run(ctx, voterKeyCheck)

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	resultURL := "the page's host, port " + config.ResultPort
	if cfg.ResultURL != nil {
		resultURL = cfg.ResultURL.Redacted()
	}
	logger.Info("vote server listening", "addr", ln.Addr().String(), "stream", cfg.Stream, "shards", cfg.Shards.N(),
		"default_poll", cfg.DefaultPoll().Question, "result_url", resultURL, "create_token", cfg.CreateToken != "",
		"voter_secret", cfg.VoterSecret != "", "rate_limit_new_voters", cfg.NewVoterLimit.String(),
		"rate_limit_votes", cfg.VoteLimit.String(), "trusted_proxies", cfg.TrustedProxies.Len())

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("vote server stopping")
	// Requests in flight finish: their votes are either held by Redis and
	// acknowledged, or refused.
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(shutCtx); err != nil {
		logger.Warn("shutdown incomplete", "error", err)
	}
	logger.Info("vote server stopped")
	return nil
}
