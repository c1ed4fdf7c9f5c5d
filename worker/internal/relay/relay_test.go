package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
	"livevote/shared/tally"
	"livevote/worker/internal/pollcopy"
	"livevote/worker/internal/testdb"
	"livevote/worker/internal/testredis"
	"livevote/worker/internal/votedb"
	"livevote/worker/internal/votestream"
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

// last returns the last tally published for each poll.
func (r *recorder) last() map[string]tally.Tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]tally.Tally{}
	for _, t := range r.got {
		out[t.Poll] = t
	}
	return out
}

type fixture struct {
	t       *testing.T
	rdb     redis.UniversalClient
	store   *votedb.Store
	stream  string
	pub     *recorder
	metrics *Metrics
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, stream := testredis.Client(t)
	store := votedb.New(testdb.Pool(t))
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, rdb: rdb, store: store, stream: stream, pub: &recorder{},
		metrics: NewMetrics(prometheus.NewRegistry())}
}

func (f *fixture) xadd(values ...string) string {
	f.t.Helper()
	id, err := f.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: f.stream, Values: values}).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// vote appends a vote as the vote server does.
func (f *fixture) vote(pollID, voter, option string) string {
	return f.xadd(ballot.FieldPoll, pollID, ballot.FieldVoter, voter, ballot.FieldVote, option)
}

// create writes a poll's copy and its create entry, as the vote server's
// script does.
func (f *fixture) create(id string, labels ...string) {
	f.t.Helper()
	f.createEntry(id, f.writeCopy(id, labels...))
}

// writeCopy writes the copy of a new poll (open) and returns its
// definition: the first half of the vote server's create script.
func (f *fixture) writeCopy(id string, labels ...string) string {
	f.t.Helper()
	p, err := poll.New(id, "Question "+id+"?", labels, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	def, _ := json.Marshal(poll.Record{Poll: p, TokenHash: poll.HashToken("t")})
	if err := f.rdb.HSet(context.Background(), ballot.OneShard(f.stream).PollKey(0, id), ballot.PollDef, def, ballot.PollState, poll.StateOpen).Err(); err != nil {
		f.t.Fatal(err)
	}
	return string(def)
}

// createEntry appends a poll's create entry: the second half.
func (f *fixture) createEntry(id, def string) {
	f.xadd(ballot.FieldOp, ballot.OpCreate, ballot.FieldPoll, id, ballot.FieldDef, def)
}

// ghostRead has a consumer that then dies take the next n entries.
func (f *fixture) ghostRead(n int) []redis.XMessage {
	f.t.Helper()
	ghost := votestream.New(f.rdb, f.stream, "workers", "ghost")
	if err := ghost.CreateGroup(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	msgs, err := ghost.Read(context.Background(), n, 10*time.Millisecond)
	if err != nil {
		f.t.Fatal(err)
	}
	return msgs
}

func (f *fixture) relay(store Store, grace time.Duration) *Relay {
	return f.relayAs("test", store, pollcopy.New(f.rdb, ballot.OneShard(f.stream), 0), 100, grace)
}

// relayAs returns a relay that reads as consumer, batch entries at a time.
func (f *fixture) relayAs(consumer string, store Store, pc PollCopy, batch int, grace time.Duration) *Relay {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(logger, votestream.New(f.rdb, f.stream, "workers", consumer), store, f.pub,
		pc, f.metrics, Config{
			BatchSize: batch, Block: 50 * time.Millisecond, ClaimIdle: 200 * time.Millisecond, Grace: grace,
		})
}

// start runs a relay on store until the returned stop is called.
func (f *fixture) start(store Store) (stop func()) {
	return f.startRelay(f.relay(store, 0))
}

// startRelay runs r until the returned stop is called.
func (f *fixture) startRelay(r *Relay) (stop func()) {
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
	waitFor(f.t, "the stream drained", func() bool {
		n, _ := f.rdb.XLen(context.Background(), f.stream).Result()
		p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result()
		return err == nil && n == 0 && p.Count == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantCounts checks a poll's committed tally against the counts given
// (zeros may be left out) and returns it.
func (f *fixture) wantCounts(pollID string, want map[string]int64) tally.Tally {
	f.t.Helper()
	m, err := f.store.Tallies(context.Background(), []string{pollID})
	if err != nil {
		f.t.Fatal(err)
	}
	cur := m[pollID]
	got := map[string]int64{}
	for o, n := range cur.Counts {
		if n != 0 {
			got[o] = n
		}
	}
	if !maps.Equal(got, want) {
		f.t.Errorf("poll %s: tally %v, want %v", pollID, cur.Counts, want)
	}
	return cur
}

// copyTally reads the tally in a poll's Redis copy.
func (f *fixture) copyTally(pollID string) (tally.Tally, bool) {
	f.t.Helper()
	raw, err := f.rdb.HGet(context.Background(), ballot.OneShard(f.stream).PollKey(0, pollID), ballot.PollTally).Result()
	if err != nil {
		return tally.Tally{}, false
	}
	var t tally.Tally
	if err := json.Unmarshal([]byte(raw), &t); err != nil {
		f.t.Fatalf("copy of %s holds %q: %v", pollID, raw, err)
	}
	return t, true
}

func voterID(n int) string { return fmt.Sprintf("voter%017d", n) }

func TestRelayCountsLastVotePerVoter(t *testing.T) {
	f := newFixture(t)
	f.vote(poll.DefaultID, voterID(1), "a")
	f.vote(poll.DefaultID, voterID(2), "a")
	f.xadd(ballot.FieldVoter, voterID(1), ballot.FieldVote, "b") // version 1's entry: no poll
	f.vote(poll.DefaultID, voterID(3), "b")
	f.vote(poll.DefaultID, voterID(2), "a")
	f.run()
	cur := f.wantCounts(poll.DefaultID, map[string]int64{"a": 1, "b": 2})
	if got := f.pub.last()[poll.DefaultID]; got.Version != cur.Version {
		t.Errorf("published version %d last, want the committed %d", got.Version, cur.Version)
	}
	if got := testutil.ToFloat64(f.metrics.Processed); got != 5 {
		t.Errorf("processed metric %v, want 5", got)
	}
}

// TestRelaySeveralPolls creates polls and votes in them in one batch, as
// the stream brings them: one poll's votes never move another's tally.
func TestRelaySeveralPolls(t *testing.T) {
	f := newFixture(t)
	f.create("talks", "Go", "SQL", "Lua")
	f.create("lunch", "Pizza", "Soup")
	f.vote("talks", voterID(1), "c")
	f.vote("lunch", voterID(1), "a")
	f.vote("talks", voterID(2), "c")
	f.vote("lunch", voterID(2), "b")
	f.vote("lunch", voterID(1), "b")
	f.vote(poll.DefaultID, voterID(1), "a")
	stop := f.start(f.store)
	defer stop()
	f.waitDrained()
	want := map[string]map[string]int64{
		"talks":        {"c": 2},
		"lunch":        {"b": 2},
		poll.DefaultID: {"a": 1},
	}
	pubs := f.pub.last()
	for id, w := range want {
		cur := f.wantCounts(id, w)
		if pubs[id].Version != cur.Version || !maps.Equal(pubs[id].Counts, cur.Counts) {
			t.Errorf("poll %s: published %+v, want %+v", id, pubs[id], cur)
		}
		if id == poll.DefaultID {
			continue // the default poll has no copy in Redis
		}
		if c, ok := f.copyTally(id); !ok || c.Version != cur.Version || !maps.Equal(c.Counts, cur.Counts) {
			t.Errorf("poll %s: copy holds %+v, want %+v", id, c, cur)
		}
	}
	// Now votes in lunch only: talks and default neither move nor are
	// published again.
	before := len(f.pub.all())
	f.vote("lunch", voterID(3), "a")
	f.waitDrained()
	f.wantCounts("lunch", map[string]int64{"a": 1, "b": 2})
	f.wantCounts("talks", map[string]int64{"c": 2})
	if got := f.pub.all()[before:]; len(got) != 1 || got[0].Poll != "lunch" {
		t.Errorf("published %+v, want lunch's tally only", got)
	}
}

// TestRelayCloseReopen: closes and reopens apply in stream order, each a
// new version, and reach the copy.
func TestRelayCloseReopen(t *testing.T) {
	f := newFixture(t)
	f.create("q", "Yes", "No")
	f.vote("q", voterID(1), "a")
	f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, "q")
	f.run()
	closed := f.wantCounts("q", map[string]int64{"a": 1})
	if closed.State != poll.StateClosed || closed.Version != 2 {
		t.Errorf("got %s at version %d, want closed at 2 (a vote, a close)", closed.State, closed.Version)
	}
	f.xadd(ballot.FieldOp, ballot.OpReopen, ballot.FieldPoll, "q")
	f.vote("q", voterID(2), "b")
	f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, "q")
	f.run()
	cur := f.wantCounts("q", map[string]int64{"a": 1, "b": 1})
	if cur.State != poll.StateClosed || cur.Version != 5 {
		t.Errorf("got %s at version %d, want closed at 5", cur.State, cur.Version)
	}
	if c, ok := f.copyTally("q"); !ok || c.Version != 5 || c.State != poll.StateClosed {
		t.Errorf("copy holds %+v, want the closed tally at version 5", c)
	}
}

// TestRelayIgnoresOlderEntryClaimedLate: a dead consumer held a voter's
// older vote while the newer one was committed; claiming it later must not
// bring the old choice back.
func TestRelayIgnoresOlderEntryClaimedLate(t *testing.T) {
	f := newFixture(t)
	f.vote(poll.DefaultID, voterID(1), "a")
	if got := f.ghostRead(1); len(got) != 1 {
		t.Fatalf("ghost read %d entries, want 1", len(got))
	}
	f.vote(poll.DefaultID, voterID(1), "b")
	f.run()
	f.wantCounts(poll.DefaultID, map[string]int64{"b": 1})
	if got := testutil.ToFloat64(f.metrics.Claimed); got != 1 {
		t.Errorf("claimed metric %v, want 1", got)
	}
}

// TestRelayRedeliveryCountsOnce: a worker committed a batch and died before
// publishing or acknowledging it; the entries are claimed and processed
// again.
func TestRelayRedeliveryCountsOnce(t *testing.T) {
	f := newFixture(t)
	f.create("p1", "Red", "Blue")
	f.vote("p1", voterID(1), "a")
	f.vote(poll.DefaultID, voterID(2), "b")
	f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, "p1")
	var b votedb.Batch
	for _, m := range f.ghostRead(10) {
		if err := addEntry(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.store.Apply(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	f.run()
	for _, p := range res.Polls {
		after := f.wantCounts(p.Tally.Poll, map[string]int64{map[string]string{"p1": "a", "default": "b"}[p.Tally.Poll]: 1})
		if after.Version != p.Tally.Version || after.State != p.Tally.State {
			t.Errorf("poll %s: redelivery moved it from %+v to %+v", p.Tally.Poll, p.Tally, after)
		}
		// The claimed batch is announced even though it changed nothing:
		// its first worker may have died before publishing.
		if got := f.pub.last()[p.Tally.Poll]; got.Version != p.Tally.Version {
			t.Errorf("poll %s: published %+v, want version %d announced", p.Tally.Poll, got, p.Tally.Version)
		}
	}
	if c, ok := f.copyTally("p1"); !ok || c.State != poll.StateClosed {
		t.Errorf("copy of p1 holds %+v, want the closed tally written on redelivery", c)
	}
}

func TestRelayDropsInvalidEntries(t *testing.T) {
	f := newFixture(t)
	f.create("p1", "Red", "Blue")
	for _, values := range [][]string{
		{"voter", "short", "vote", "a"},
		{"voter", voterID(9), "vote", "zz"},
		{"vote", "a"},
		{"poll", "Not An Id", "voter", voterID(9), "vote", "a"},
		{"op", "explode", "poll", "p1"},
		{"op", "create", "poll", "p2", "def", "{not json"},
		{"op", "create", "poll", "p3", "def", `{"id":"p3","question":"?","options":[{"id":"a","label":"only one"}]}`},
		{"op", "create", "poll", "p4", "def", `{"id":"p4","question":"nul\u0000","options":[{"id":"a","label":"x"},{"id":"b","label":"y"}]}`},
		{"op", "create", "poll", "p5", "def", `{"id":"p6","question":"?","options":[{"id":"a","label":"x"},{"id":"b","label":"y"}]}`},
	} {
		f.xadd(values...)
	}
	// Well formed, but for a poll or an option that does not exist: the
	// database drops them without failing the batch.
	f.vote("nosuchpoll", voterID(3), "a")
	f.vote("p1", voterID(4), "c")
	f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, "nosuchpoll")
	f.vote("p1", voterID(1), "a")
	f.vote(poll.DefaultID, voterID(1), "b")
	f.run()
	f.wantCounts("p1", map[string]int64{"a": 1})
	f.wantCounts(poll.DefaultID, map[string]int64{"b": 1})
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 12 {
		t.Errorf("invalid metric %v, want 12", got)
	}
}

// flakyStore fails its first fails calls, as a PostgreSQL that is down.
type flakyStore struct {
	Store
	mu    sync.Mutex
	fails int
}

func (s *flakyStore) Apply(ctx context.Context, b votedb.Batch) (votedb.Result, error) {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.mu.Unlock()
		return votedb.Result{}, fmt.Errorf("connection refused")
	}
	s.mu.Unlock()
	return s.Store.Apply(ctx, b)
}

// TestRelayRetriesUntilPostgresAnswers: a failed commit leaves the batch
// unacknowledged and is retried until it goes through.
func TestRelayRetriesUntilPostgresAnswers(t *testing.T) {
	f := newFixture(t)
	f.vote(poll.DefaultID, voterID(1), "b")
	flaky := &flakyStore{Store: f.store, fails: 4}
	stop := f.start(flaky)
	defer stop()
	waitFor(t, "a failed commit", func() bool { return testutil.ToFloat64(f.metrics.DBErrors) >= 2 })
	if p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result(); err != nil || p.Count != 1 {
		t.Errorf("while the commit fails: pending %+v (err %v), want the entry still pending", p, err)
	}
	f.waitDrained()
	f.wantCounts(poll.DefaultID, map[string]int64{"b": 1})
	if got := testutil.ToFloat64(f.metrics.DBErrors); got != 4 {
		t.Errorf("postgres errors metric %v, want 4", got)
	}
}

// stuckStore never commits: a PostgreSQL that hangs.
type stuckStore struct{ Store }

func (stuckStore) Apply(ctx context.Context, _ votedb.Batch) (votedb.Result, error) {
	<-ctx.Done()
	return votedb.Result{}, ctx.Err()
}

// TestRelayStopHandsBackBatch: a stop waits the grace period for the batch
// in flight, then leaves it pending for another worker.
func TestRelayStopHandsBackBatch(t *testing.T) {
	f := newFixture(t)
	f.vote(poll.DefaultID, voterID(1), "a")
	r := f.relay(stuckStore{f.store}, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	waitFor(t, "the entry read", func() bool {
		p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result()
		return err == nil && p.Count == 1
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not stop within 5s of a 100ms grace")
	}
	if p, err := f.rdb.XPending(context.Background(), f.stream, "workers").Result(); err != nil || p.Count != 1 {
		t.Errorf("after the stop: pending %+v (err %v), want the entry handed back", p, err)
	}
	// Another worker takes it over once it has been idle long enough.
	f.run()
	f.wantCounts(poll.DefaultID, map[string]int64{"a": 1})
}

// TestRelayRecreatesLostGroup: Redis restarted without its data loses the
// stream, its group and the poll copy; the running relay recreates the
// group at once, restores the copy from PostgreSQL and goes on.
func TestRelayRecreatesLostGroup(t *testing.T) {
	f := newFixture(t)
	f.create("p1", "Red", "Blue")
	stop := f.start(f.store)
	defer stop()
	f.vote(poll.DefaultID, voterID(1), "a")
	f.vote("p1", voterID(1), "b")
	f.waitDrained()
	ctx := context.Background()
	if err := f.rdb.Del(ctx, f.stream, ballot.OneShard(f.stream).PollKey(0, "p1")).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy of p1 restored", func() bool {
		c, ok := f.copyTally("p1")
		return ok && c.Counts["b"] == 1
	})
	h, err := f.rdb.HGetAll(ctx, ballot.OneShard(f.stream).PollKey(0, "p1")).Result()
	if err != nil || h[ballot.PollState] != poll.StateOpen || h[ballot.PollDef] == "" {
		t.Errorf("restored copy %v (err %v), want def and state open", h, err)
	}
	f.vote(poll.DefaultID, voterID(2), "b")
	f.waitDrained()
	f.wantCounts(poll.DefaultID, map[string]int64{"a": 1, "b": 1})
}

// TestRelayStartRestoresAndAnnounces: at start the relay writes the polls
// missing from Redis and announces the recently changed tallies.
func TestRelayStartRestoresAndAnnounces(t *testing.T) {
	f := newFixture(t)
	p, err := poll.New("p9", "Q?", []string{"X", "Y"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Apply(context.Background(), votedb.Batch{
		Creates: []poll.Record{{Poll: p}},
		Votes:   []votedb.Vote{{Poll: "p9", VoterID: voterID(1), Option: "b", Seq: votedb.Seq{Ms: 1}}},
	}); err != nil {
		t.Fatal(err)
	}
	stop := f.start(f.store)
	defer stop()
	waitFor(t, "p9 restored and announced", func() bool {
		c, ok := f.copyTally("p9")
		return ok && c.Counts["b"] == 1 && f.pub.last()["p9"].Counts["b"] == 1
	})
}
