package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/poll"
)

// ownRedis starts a redis-server of the test's own on a free loopback port
// in a temporary folder (no persistence, args added), and points e at it
// in place of the shared Redis.
func ownRedis(t *testing.T, e *env, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	s := &server{t: t, name: "redis", port: port, start: func() *exec.Cmd {
		return exec.Command("redis-server", append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--save", "", "--appendonly", "no"}, args...)...)
	}}
	s.up()
	t.Cleanup(s.kill)
	e.redis = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, err := redis.ParseURL(e.redis)
	if err != nil {
		t.Fatal(err)
	}
	// newEnv's cleanup closes e.rdb, whichever it is then, after this
	// Redis is gone: one try per command.
	opts.MaxRetries, opts.DialerRetries = -1, 1
	e.rdb.Close()
	e.rdb = redis.NewClient(opts)
	return s
}

// redisMemory reads a field of INFO memory as a number.
func redisMemory(t *testing.T, rdb *redis.Client, field string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO memory %s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("INFO memory has no %s", field)
	return 0
}

// TestRedisFull: Redis at maxmemory with noeviction refuses writes. A vote
// is then a 503 that says Redis is full, never a 2xx for a vote Redis does
// not hold; a worker (here one that starts while Redis is full) still
// drains, since acknowledging frees memory; every acknowledged vote is in
// PostgreSQL once, no refused one is; and votes are taken again once the
// backlog has drained.
func TestRedisFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const maxMemory = 8 << 20
	ownRedis(t, e, "--maxmemory", strconv.Itoa(maxMemory), "--maxmemory-policy", "noeviction")
	result, worker, vote := e.startAll()
	p := createPoll(t, vote, pollDef{Name: "full", Question: "Full?", Options: []string{"Yes", "No", "Maybe"}})
	waitPollKnown(t, result, p.ID)

	// No worker: the stream only grows. Redis is filled to 600 KiB below
	// its limit, so that some thousands of votes fill it.
	if err := worker.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	// In keys of 32 KiB: one large value's request buffer would count
	// against maxmemory twice, and APPEND's string grows ahead of need.
	chunk := strings.Repeat("x", 32<<10)
	for i := 0; redisMemory(t, e.rdb, "used_memory") < maxMemory-600<<10; i++ {
		if err := e.rdb.Set(context.Background(), "filler:"+strconv.Itoa(i), chunk, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	type ballot struct{ poll, vote string }
	var (
		mu      sync.Mutex
		acked   = map[string]ballot{}
		full    atomic.Int64
		other   []string
		clients = 16
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && full.Load() < 200; i++ {
				// A new voter each time (no cookie), in the default poll
				// (a plain XADD) or the poll (the vote script) in turn.
				b := ballot{poll.DefaultID, []string{"a", "b"}[i%2]}
				path := "/api/vote"
				if (c+i)%2 == 1 {
					b = ballot{p.ID, []string{"a", "b", "c"}[i%3]}
					path = "/api/polls/" + p.ID + "/votes"
				}
				code, body, _ := request(t, nil, http.MethodPost, vote.url(path), "application/json", `{"vote":"`+b.vote+`"}`)
				switch {
				case code == http.StatusAccepted:
					id := voterIDFrom(t, body)
					mu.Lock()
					acked[id] = b
					mu.Unlock()
				case code == http.StatusServiceUnavailable && strings.Contains(string(body), "vote queue (Redis) is full"):
					full.Add(1)
				default:
					mu.Lock()
					other = append(other, fmt.Sprintf("%d %s", code, body))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("%d answers neither 202 nor 503 \"full\", first: %s", len(other), other[0])
	}
	if full.Load() < 200 || len(acked) < 500 {
		t.Fatalf("%d votes acknowledged, %d refused as full within 60 s; want 500 or more, then Redis full", len(acked), full.Load())
	}
	backlog, _ := e.rdb.XLen(context.Background(), e.stream()).Result()
	t.Logf("Redis full: %d votes acknowledged, %d refused (503 full), stream %d entries, used_memory %d of %d",
		len(acked), full.Load(), backlog, redisMemory(t, e.rdb, "used_memory"), maxMemory)

	// A form post says so on the page.
	code, body, _ := request(t, nil, http.MethodPost, vote.url("/p/"+p.ID), "application/x-www-form-urlencoded",
		url.Values{"vote": {"a"}}.Encode())
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "the vote queue (Redis) is full") {
		t.Errorf("form post while full: got %d, want 503 with the page saying Redis is full:\n%.400s", code, body)
	}

	// A worker starting now, with Redis still full, drains it.
	start := time.Now()
	worker = e.restart(worker)
	waitFor(t, 60*time.Second, "the worker to drain a full Redis", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		return err == nil && n == 0
	})
	t.Logf("backlog of %d drained in %v by a worker started while Redis was full", backlog, time.Since(start).Round(time.Millisecond))

	// Every acknowledged vote is in PostgreSQL, once; no refused one is.
	byPoll := map[string]map[string]string{poll.DefaultID: {}, p.ID: {}}
	for id, b := range acked {
		byPoll[b.poll][id] = b.vote
	}
	waitFor(t, 20*time.Second, "every acknowledged vote in PostgreSQL", func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM ballots").Scan(&n)
		return err == nil && n >= len(acked)
	})
	for id, want := range byPoll {
		e.checkPollRows(id, want)
	}

	// Drained, it takes votes again.
	v := newVoter(t)
	if code := v.vote(t, vote, "a"); code != http.StatusAccepted {
		t.Errorf("a vote after the backlog drained: got %d, want 202", code)
	}
	if out := worker.out.String(); !strings.Contains(out, "Redis is full") {
		t.Logf("worker log does not mention Redis being full (it may have found room at once):\n%s", tail(out, 20))
	}
}

// voterIDFrom reads voter_id of a vote's 202 answer.
func voterIDFrom(t *testing.T, body []byte) string {
	const key = `"voter_id":"`
	s := string(body)
	i := strings.Index(s, key)
	if i < 0 {
		t.Errorf("202 without a voter_id: %s", body)
		return ""
	}
	s = s[i+len(key):]
	return s[:strings.IndexByte(s, '"')]
}

// TestVoterKeyAfterFlushAll: Redis loses everything (FLUSHALL, or a
// restart without persistence) while a vote server holds the voter id
// key; it writes the key back, so the ids it gave out stay valid on a vote
// server started afterwards.
func TestVoterKeyAfterFlushAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ownRedis(t, e)
	first := e.start("vote")
	first.waitReady()
	v := newVoter(t)
	if code := v.vote(t, first, "a"); code != http.StatusAccepted {
		t.Fatalf("first vote: got %d, want 202", code)
	}
	key := e.stream() + ":voter-key"
	held, err := e.rdb.Get(context.Background(), key).Bytes()
	if err != nil {
		t.Fatalf("no voter key at %s: %v", key, err)
	}
	if err := e.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the vote server to write its key back", func() bool {
		got, err := e.rdb.Get(context.Background(), key).Bytes()
		return err == nil && string(got) == string(held)
	})
	second := e.start("vote")
	second.waitReady()
	// v.vote fails the test if the server answers with another id.
	if code := v.vote(t, second, "b"); code != http.StatusAccepted {
		t.Errorf("vote on a server started after the flush: got %d, want 202", code)
	}
	if !strings.Contains(first.out.String(), "wrote it back") {
		t.Errorf("the first vote server's log does not say it wrote the key back:\n%s", tail(first.out.String(), 20))
	}
}
