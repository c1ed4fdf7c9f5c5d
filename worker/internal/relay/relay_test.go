package relay

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"livevote/shared/tally"
	"livevote/worker/internal/testdb"
	"livevote/worker/internal/votedb"
)

type recorder struct {
	mu  sync.Mutex
	got []tally.Tally
}

func (r *recorder) Publish(t tally.Tally) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, t)
	return nil
}

func (r *recorder) all() []tally.Tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tally.Tally(nil), r.got...)
}

type fixture struct {
	t       *testing.T
	rdb     *redis.Client
	store   *votedb.Store
	stream  string
	pub     *recorder
	metrics *Metrics
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL (%s) is unreachable: %v; start it with `make services`", url, err)
	}
	stream := "test_relay_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { rdb.Del(context.Background(), stream); rdb.Close() })
	store := votedb.New(testdb.Pool(t))
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, rdb: rdb, store: store, stream: stream, pub: &recorder{},
		metrics: NewMetrics(prometheus.NewRegistry())}
}

func (f *fixture) add(voter, option string) string {
	f.t.Helper()
	id, err := f.rdb.XAdd(context.Background(), &redis.XAddArgs{
		Stream: f.stream, Values: []string{"voter", voter, "vote", option}}).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// ghostRead has a consumer that then dies take the next n entries.
func (f *fixture) ghostRead(n int64) []redis.XMessage {
	f.t.Helper()
	ctx := context.Background()
	if err := f.rdb.XGroupCreateMkStream(ctx, f.stream, "workers", "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		f.t.Fatal(err)
	}
	res, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: "workers", Consumer: "ghost", Streams: []string{f.stream, ">"}, Count: n}).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return res[0].Messages
}

// start runs a relay on store until the returned stop is called.
func (f *fixture) start(store Store) (stop func()) {
	r := New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})), f.rdb, store, f.pub, f.metrics, Config{
		Stream: f.stream, Group: "workers", Consumer: "test", BatchSize: 100,
		Block: 50 * time.Millisecond, ClaimIdle: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// run runs a relay until the stream is empty and nothing is pending.
func (f *fixture) run() {
	f.t.Helper()
	defer f.start(f.store)()
	f.waitDrained()
}

func (f *fixture) waitDrained() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := f.rdb.XLen(context.Background(), f.stream).Result()
		p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result()
		if err == nil && n == 0 && p.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("stream not drained within 10s: %d entries, %+v pending", n, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) wantTally(a, b int64) tally.Tally {
	f.t.Helper()
	cur, err := f.store.Current(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if cur.Counts["a"] != a || cur.Counts["b"] != b {
		f.t.Errorf("tally %v, want a=%d b=%d", cur.Counts, a, b)
	}
	return cur
}

func voterID(n int) string { return fmt.Sprintf("voter%017d", n) }

func TestRelayCountsLastVotePerVoter(t *testing.T) {
	f := newFixture(t)
	f.add(voterID(1), "a")
	f.add(voterID(2), "a")
	f.add(voterID(1), "b")
	f.add(voterID(3), "b")
	f.add(voterID(2), "a")
	f.run()
	cur := f.wantTally(1, 2)
	pubs := f.pub.all()
	if len(pubs) == 0 || pubs[len(pubs)-1].Version != cur.Version {
		t.Errorf("published %+v, want the committed version %d last", pubs, cur.Version)
	}
	if got := testutil.ToFloat64(f.metrics.Processed); got != 5 {
		t.Errorf("processed metric %v, want 5", got)
	}
}

// TestRelayIgnoresOlderEntryClaimedLate: a dead consumer held a voter's
// older vote while the newer one was committed; claiming it later must not
// bring the old choice back.
func TestRelayIgnoresOlderEntryClaimedLate(t *testing.T) {
	f := newFixture(t)
	f.add(voterID(1), "a")
	if got := f.ghostRead(1); len(got) != 1 {
		t.Fatalf("ghost read %d entries, want 1", len(got))
	}
	f.add(voterID(1), "b")
	f.run()
	f.wantTally(0, 1)
	if got := testutil.ToFloat64(f.metrics.Claimed); got != 1 {
		t.Errorf("claimed metric %v, want 1", got)
	}
}

// TestRelayRedeliveryCountsOnce: a worker committed a batch and died before
// acknowledging it; the entries are claimed and processed again.
func TestRelayRedeliveryCountsOnce(t *testing.T) {
	f := newFixture(t)
	f.add(voterID(1), "a")
	f.add(voterID(2), "b")
	msgs := f.ghostRead(10)
	var votes []votedb.Vote
	for _, m := range msgs {
		v, err := parseEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, v)
	}
	if _, err := f.store.Apply(context.Background(), votes); err != nil {
		t.Fatal(err)
	}
	before := f.wantTally(1, 1)
	f.run()
	after := f.wantTally(1, 1)
	if after.Version != before.Version {
		t.Errorf("redelivery moved the version from %d to %d", before.Version, after.Version)
	}
	// The claimed batch is announced even though it changed nothing: its
	// first worker may have died before publishing.
	if pubs := f.pub.all(); len(pubs) == 0 || pubs[len(pubs)-1].Version != before.Version {
		t.Errorf("published %+v, want version %d announced", pubs, before.Version)
	}
}

func TestRelayDropsInvalidEntries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, values := range [][]string{
		{"voter", "short", "vote", "a"},
		{"voter", voterID(9), "vote", "c"},
		{"vote", "a"},
	} {
		if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: f.stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	f.add(voterID(1), "a")
	f.run()
	f.wantTally(1, 0)
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 3 {
		t.Errorf("invalid metric %v, want 3", got)
	}
}

// flakyStore fails its first fails calls, as a PostgreSQL that is down.
type flakyStore struct {
	Store
	mu    sync.Mutex
	fails int
}

func (s *flakyStore) Apply(ctx context.Context, votes []votedb.Vote) (votedb.Result, error) {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.mu.Unlock()
		return votedb.Result{}, fmt.Errorf("connection refused")
	}
	s.mu.Unlock()
	return s.Store.Apply(ctx, votes)
}

// TestRelayRetriesUntilPostgresAnswers: a failed commit leaves the batch
// unacknowledged and is retried until it goes through.
func TestRelayRetriesUntilPostgresAnswers(t *testing.T) {
	f := newFixture(t)
	f.add(voterID(1), "b")
	flaky := &flakyStore{Store: f.store, fails: 4}
	stop := f.start(flaky)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(f.metrics.DBErrors) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no failed commit within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result(); err != nil || p.Count != 1 {
		t.Errorf("while the commit fails: pending %+v (err %v), want the entry still pending", p, err)
	}
	f.waitDrained()
	f.wantTally(0, 1)
	if got := testutil.ToFloat64(f.metrics.DBErrors); got != 4 {
		t.Errorf("postgres errors metric %v, want 4", got)
	}
}

// TestRelayRecreatesLostGroup: Redis restarted without persistence loses
// the stream and its group; the running relay recreates them and goes on.
func TestRelayRecreatesLostGroup(t *testing.T) {
	f := newFixture(t)
	stop := f.start(f.store)
	defer stop()
	f.add(voterID(1), "a")
	f.waitDrained()
	if err := f.rdb.Del(context.Background(), f.stream).Err(); err != nil {
		t.Fatal(err)
	}
	f.add(voterID(2), "b")
	f.waitDrained()
	f.wantTally(1, 1)
}
