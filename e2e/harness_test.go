package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"livevote/shared/servicetest"
	"livevote/shared/tally"
)

// binDir holds the binaries under test, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "livevote-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	flag.Parse()
	args := []string{"build", "-o"}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		// Tests run the binaries with the race detector, so races in the
		// real binaries fail too; benchmarks measure them as shipped.
		args = []string{"build", "-race", "-o"}
	}
	for _, s := range []string{"vote", "worker", "result"} {
		cmd := exec.Command("go", append(args, filepath.Join(dir, s), "livevote/"+s)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", s, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if pgTemplate.dir != "" {
		// The template cluster the fault suite's PostgreSQLs are copied from.
		os.RemoveAll(filepath.Dir(pgTemplate.dir))
	}
	os.Exit(code)
}

func getenvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// env is one test's own slice of the shared services: its own stream key,
// NATS subject and PostgreSQL schema, so tests run in parallel and again.
type env struct {
	t       testing.TB
	name    string
	redis   string
	dbURL   string // with search_path set to the test's schema
	natsURL string
	rdb     *redis.Client
	pool    *pgxpool.Pool
	nc      *nats.Conn

	// workerNATS and resultNATS, when set, are the NATS URLs with the
	// credentials the worker and the result server get; else natsURL.
	workerNATS, resultNATS string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{
		t:       t,
		name:    "e2e_" + strings.ToLower(rand.Text()[:10]),
		redis:   getenvOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
		natsURL: getenvOr("TEST_NATS_URL", "nats://127.0.0.1:4222"),
	}
	base := getenvOr("TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable")

	opts, err := redis.ParseURL(e.redis)
	if err != nil {
		t.Fatal(err)
	}
	e.rdb = redis.NewClient(opts)
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL (%s) is unreachable: %v; start it with `make services`", e.redis, err)
	}
	t.Cleanup(func() { e.dropRedisKeys(); e.rdb.Close() })

	admin, err := pgxpool.New(ctx, base)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL (%s) is unreachable: %v; start it with `make services`", base, err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+e.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+e.name+" CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	e.dbURL = base + sep + "search_path=" + e.name
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)

	if e.nc, err = nats.Connect(e.natsURL); err != nil {
		t.Fatalf("NATS at TEST_NATS_URL (%s) is unreachable: %v; start it with `make services`", e.natsURL, err)
	}
	t.Cleanup(e.nc.Close)
	return e
}

// dropRedisKeys deletes the test's stream and every key beside it (the
// poll copies are "<stream>:poll:<id>"), so the shared Redis does not fill
// up with what finished tests left.
func (e *env) dropRedisKeys() {
	ctx := context.Background()
	keys := []string{e.name}
	iter := e.rdb.Scan(ctx, 0, e.name+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	e.rdb.Del(ctx, keys...)
}

// stream and subject are the test's own names.
func (e *env) stream() string  { return e.name }
func (e *env) subject() string { return e.name + ".tally" }

// proc is one running binary.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	addr string // host:port of its HTTP side
	// extra are the settings it was started with beyond the env's.
	extra []string
	out   *servicetest.LockedBuffer
	done  chan struct{}
	err   error
}

// start runs a binary with the test's settings plus extra VAR=value pairs,
// and waits for its /healthz.
func (e *env) start(name string, extra ...string) *proc {
	e.t.Helper()
	return e.startAt(name, freeAddr(e.t), extra...)
}

// startAt is start on a given address, so a restarted process is found
// where it was.
func (e *env) startAt(name, addr string, extra ...string) *proc {
	e.t.Helper()
	addrVar := map[string]string{"vote": "VOTE_ADDR", "worker": "WORKER_ADDR", "result": "RESULT_ADDR"}[name]
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(os.Environ(),
		"REDIS_URL="+e.redis,
		"DATABASE_URL="+e.dbURL,
		"NATS_URL="+e.natsURLFor(name),
		"VOTE_STREAM="+e.stream(),
		"TALLY_SUBJECT="+e.subject(),
		addrVar+"="+addr,
		"WORKER_CLAIM_IDLE=1s",
		// Every test's voters come from 127.0.0.1, many of them for the
		// load and fault tests: limits off unless a test sets them (extra
		// comes after, and the last value of a variable wins).
		"RATE_LIMIT_NEW_VOTERS=off",
		"RATE_LIMIT_VOTES=off",
	)
	cmd.Env = append(cmd.Env, extra...)
	p := &proc{t: e.t, name: name, cmd: cmd, addr: addr, extra: extra, out: &servicetest.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		p.kill()
		if e.t.Failed() {
			e.t.Logf("--- %s output:\n%s", name, tail(p.out.String(), 60))
		}
	})
	waitFor(e.t, 20*time.Second, name+" /healthz", func() bool {
		resp, err := http.Get(p.url("/healthz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// natsURLFor is the NATS URL the binary name is started with.
func (e *env) natsURLFor(name string) string {
	switch {
	case name == "worker" && e.workerNATS != "":
		return e.workerNATS
	case name == "result" && e.resultNATS != "":
		return e.resultNATS
	}
	return e.natsURL
}

// restart starts the same binary again, on the same address and settings,
// once p has exited.
func (e *env) restart(p *proc) *proc {
	e.t.Helper()
	<-p.done
	return e.startAt(p.name, p.addr, p.extra...)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// waitReady waits for /readyz to answer 200.
func (p *proc) waitReady() {
	p.t.Helper()
	waitFor(p.t, 20*time.Second, p.name+" /readyz", func() bool {
		resp, err := http.Get(p.url("/readyz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// kill ends the process at once (kill -9).
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and returns the exit error once it has exited.
func (p *proc) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.name, timeout)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// voter is one browser: a cookie jar.
type voter struct {
	client *http.Client
	id     string
}

func newVoter(t testing.TB) *voter {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &voter{client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// vote posts to /api/vote and returns the status code.
func (v *voter) vote(t testing.TB, vote *proc, option string) int {
	t.Helper()
	resp, err := v.client.Post(vote.url("/api/vote"), "application/json", strings.NewReader(`{"vote":"`+option+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		var body struct {
			VoterID string `json:"voter_id"`
			Vote    string `json:"vote"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if v.id != "" && body.VoterID != v.id {
			t.Fatalf("voter id changed from %s to %s", v.id, body.VoterID)
		}
		v.id = body.VoterID
		if body.Vote != option {
			t.Fatalf("got vote %q in the answer, want %q", body.Vote, option)
		}
	}
	return resp.StatusCode
}

// apiTally reads /api/tally of a result server.
func apiTally(t testing.TB, result *proc) tally.Tally {
	t.Helper()
	resp, err := http.Get(result.url("/api/tally"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tl tally.Tally
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatalf("/api/tally answered %s: %v", b, err)
	}
	return tl
}

// dbCounts is version 1's query on the test's schema: the default poll's
// counts as the original's results app reads them (votes is a view).
func (e *env) dbCounts() map[string]int64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{"a": 0, "b": 0}
	for rows.Next() {
		var v string
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			e.t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return got
}

// socket is a WebSocket client of a result server collecting tallies.
type socket struct {
	conn *websocket.Conn
	mu   sync.Mutex
	got  []tally.Tally
	raw  []string
	news chan struct{}
	// closeErr is why the connection ended, once it has.
	closeErr error
}

// dialSocket opens /ws, the default poll's WebSocket.
func dialSocket(t testing.TB, result *proc) *socket {
	t.Helper()
	return dialPath(t, result, "/ws")
}

// dialPollSocket opens /ws?poll=<id>.
func dialPollSocket(t testing.TB, result *proc, pollID string) *socket {
	t.Helper()
	return dialPath(t, result, "/ws?poll="+url.QueryEscape(pollID))
}

func dialPath(t testing.TB, result *proc, path string) *socket {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+result.addr+path, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("WebSocket %s: %v (HTTP status %d)", path, err, status)
	}
	s := &socket{conn: conn, news: make(chan struct{}, 1)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				s.mu.Lock()
				s.closeErr = err
				s.mu.Unlock()
				return
			}
			var tl tally.Tally
			if err := json.Unmarshal(b, &tl); err != nil {
				tl.Version = -1
			}
			s.mu.Lock()
			s.got = append(s.got, tl)
			s.raw = append(s.raw, string(b))
			s.mu.Unlock()
			select {
			case s.news <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

func (s *socket) messages() ([]tally.Tally, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tally.Tally(nil), s.got...), append([]string(nil), s.raw...)
}

func (s *socket) last() (tally.Tally, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return tally.Tally{}, false
	}
	return s.got[len(s.got)-1], true
}

// checkRows compares the votes table with each voter's expected last vote,
// row by row: a lost vote and another voter's lost vote can cancel out in
// the counts, never here.
func (e *env) checkRows(want map[string]string) {
	e.t.Helper()
	e.compareQueryRows("votes", want, "SELECT id, vote FROM votes")
}

// compareQueryRows compares the (voter, vote) rows a query answers with
// each voter's expected last vote.
func (e *env) compareQueryRows(label string, want map[string]string, query string, args ...any) {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), query, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	got := make(map[string]string, len(want))
	for rows.Next() {
		var voter, v string
		if err := rows.Scan(&voter, &v); err != nil {
			e.t.Fatal(err)
		}
		got[voter] = v
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	compareRows(e.t, label, got, want)
}
