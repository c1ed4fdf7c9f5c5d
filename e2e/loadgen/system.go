package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// system is the voting system under load: where its servers answer, and,
// when this program started it, the processes and what to clean up.
type system struct {
	vote, result, worker string // base URLs
	// db is the system's database (its own schema) when this program
	// started it, else nil.
	db      *pgxpool.Pool
	procs   []*exec.Cmd
	cleanup []func()
	// binDir and env start more result servers (moreResults); nil env
	// when the system was started elsewhere.
	binDir string
	env    []string
}

// freeAddrs returns n distinct free loopback addresses: each one's
// listener stays open until all are found, so the kernel cannot give the
// same port twice.
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// startSystem runs the three binaries against the local dependencies, on a
// fresh stream, subject and PostgreSQL schema.
func startSystem(ctx context.Context, o options, progress func(string, ...any)) (*system, error) {
	s := &system{}
	name := "bench_" + strings.ToLower(rand.Text()[:8])

	admin, err := pgxpool.New(ctx, o.databaseURL)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w (start it with `make services`)", o.databaseURL, err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		return nil, err
	}
	s.cleanup = append(s.cleanup, func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		admin.Close()
	})
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, err
	}
	s.cleanup = append(s.cleanup, func() {
		// The stream and the poll copies beside it.
		rdb := redis.NewClient(ropts)
		ctx := context.Background()
		keys := []string{name}
		iter := rdb.Scan(ctx, 0, name+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			rdb.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
		rdb.Close()
	})
	sep := "?"
	if strings.Contains(o.databaseURL, "?") {
		sep = "&"
	}
	dbURL := o.databaseURL + sep + "search_path=" + name
	if s.db, err = pgxpool.New(ctx, dbURL); err != nil {
		s.stop(progress)
		return nil, err
	}
	// Limits off: the benchmark is many voters behind one address, and
	// measures the system, not the limiter; -limits on checks them on
	// every vote at a rate no load reaches, to show their cost.
	limit := "off"
	if o.limits == "on" {
		limit = "1000000/s"
	}
	common := []string{
		"REDIS_URL=" + o.redisURL,
		"DATABASE_URL=" + dbURL,
		"NATS_URL=" + o.natsURL,
		"VOTE_STREAM=" + name,
		"TALLY_SUBJECT=" + name + ".tally",
		"LOG_LEVEL=warn",
		"RATE_LIMIT_NEW_VOTERS=" + limit,
		"RATE_LIMIT_VOTES=" + limit,
		// The fan-out's and the viewers' sockets all come from this
		// machine, 50,000 and more of them.
		"WS_MAX_CLIENTS=1000000",
		"WS_MAX_CLIENTS_PER_ADDRESS=1000000",
	}
	addrs, err := freeAddrs(3)
	if err != nil {
		s.stop(progress)
		return nil, err
	}
	s.binDir, s.env = o.binDir, append(os.Environ(), common...)
	for i, svc := range []string{"result", "worker", "vote"} {
		addr := addrs[i]
		if err := s.startProcess(svc, addr); err != nil {
			s.stop(progress)
			return nil, err
		}
		url := "http://" + addr
		switch svc {
		case "vote":
			s.vote = url
		case "result":
			s.result = url
		case "worker":
			s.worker = url
		}
	}
	// Ready once all run: the result server needs the schema the worker
	// migrates, the worker needs nothing of the others.
	for svc, url := range map[string]string{"result": s.result, "worker": s.worker, "vote": s.vote} {
		if err := waitReady(ctx, url+"/readyz"); err != nil {
			s.stop(progress)
			return nil, fmt.Errorf("%s: %w", svc, err)
		}
	}
	progress("system ready: vote %s, result %s, worker %s", s.vote, s.result, s.worker)
	return s, nil
}

// startProcess starts the binary svc of the system on addr.
func (s *system) startProcess(svc, addr string) error {
	cmd := exec.Command(filepath.Join(s.binDir, svc))
	cmd.Env = append(append([]string(nil), s.env...), strings.ToUpper(svc)+"_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (run `make build` first): %w", svc, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// moreResults starts n more result servers beside the first, on the same
// database, stream and subject, and returns their URLs once ready; they
// stop with the system.
func (s *system) moreResults(ctx context.Context, n int) ([]string, error) {
	if s.env == nil {
		return nil, fmt.Errorf("%d more result servers needed, and the system was started elsewhere (-result)", n)
	}
	addrs, err := freeAddrs(n)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, addr := range addrs {
		if err := s.startProcess("result", addr); err != nil {
			return nil, err
		}
		urls = append(urls, "http://"+addr)
	}
	for _, url := range urls {
		if err := waitReady(ctx, url+"/readyz"); err != nil {
			return nil, fmt.Errorf("result: %w", err)
		}
	}
	return urls, nil
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within 30s", url)
}

// stop ends what startSystem started: SIGTERM, then cleanup.
func (s *system) stop(progress func(string, ...any)) {
	for _, p := range s.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	if s.db != nil {
		s.db.Close()
	}
	for _, f := range s.cleanup {
		f()
	}
	if len(s.procs) > 0 {
		progress("system stopped")
	}
}
