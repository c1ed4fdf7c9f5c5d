package feed

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"livevote/result/internal/hub"
	"livevote/result/internal/pgtest"
	"livevote/result/internal/polldb"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

func newHub() *hub.Hub {
	return hub.New(hub.NewMetrics(prometheus.NewRegistry()), poll.DefaultID)
}

func tl(id string, v int64, counts map[string]int64) tally.Tally {
	return tally.New(id, v, []string{"a", "b"}, counts, "", time.Now())
}

// fakeStore is a PostgreSQL whose tallies and availability the test sets.
type fakeStore struct {
	mu      sync.Mutex
	tallies map[string]tally.Tally
	down    bool
	queries [][]string
}

func (s *fakeStore) Tallies(_ context.Context, ids []string) (map[string]tally.Tally, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, ids)
	if s.down {
		return nil, errors.New("connection refused")
	}
	out := make(map[string]tally.Tally)
	for _, id := range ids {
		if t, ok := s.tallies[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (s *fakeStore) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("connection refused")
	}
	return nil
}

func (s *fakeStore) set(down bool, ts ...tally.Tally) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if s.tallies == nil {
		s.tallies = make(map[string]tally.Tally)
	}
	for _, t := range ts {
		s.tallies[t.Poll] = t
	}
}

func waitVersion(t *testing.T, h *hub.Hub, id string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, ok := h.Current(id)
		if ok && got.Version == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at version %d (held %v), want %d", id, got.Version, ok, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRunLoadsRetriesAndReloads: the first load waits out a database that
// is down (not ready meanwhile); Reload (as after a NATS reconnection)
// catches up with what was committed since, in one query for every held
// poll.
func TestRunLoadsRetriesAndReloads(t *testing.T) {
	store := &fakeStore{}
	store.set(true, tl("default", 3, map[string]int64{"a": 3}))
	h := newHub()
	f := New(discard(), store, h, "t", prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx, time.Hour)

	time.Sleep(150 * time.Millisecond)
	if _, _, ok := h.Current("default"); ok {
		t.Fatal("a tally arrived while the database was down")
	}
	if err := f.CheckPostgres(ctx); err == nil {
		t.Error("ready while the database is down")
	}
	store.set(false)
	waitVersion(t, h, "default", 3)
	if err := f.CheckPostgres(ctx); err != nil {
		t.Errorf("not ready after loading: %v", err)
	}

	h.Hold("other")
	store.set(false, tl("default", 7, nil), tl("other", 2, nil))
	store.mu.Lock()
	store.queries = nil
	store.mu.Unlock()
	f.Reload()
	waitVersion(t, h, "default", 7)
	waitVersion(t, h, "other", 2)
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.queries) != 1 || len(store.queries[0]) != 2 {
		t.Errorf("reload made queries %v, want one for both held polls", store.queries)
	}
}

func TestTallyReadsUnheldPollOnce(t *testing.T) {
	store := &fakeStore{}
	store.set(false, tl("p", 4, map[string]int64{"b": 4}))
	h := newHub()
	f := New(discard(), store, h, "t", prometheus.NewRegistry())
	for range 3 {
		got, b, err := f.Tally(context.Background(), "p")
		if err != nil || got.Version != 4 || !strings.Contains(string(b), `"version":4`) {
			t.Fatalf("got %+v %s %v, want version 4", got, b, err)
		}
	}
	if n := len(store.queries); n != 1 {
		t.Errorf("made %d queries, want 1 (then held)", n)
	}
	if _, _, err := f.Tally(context.Background(), "absent"); !errors.Is(err, ErrUnknownPoll) {
		t.Errorf("absent poll: got %v, want ErrUnknownPoll", err)
	}
}

// TestReceiveOffersValidTalliesOnly feeds NATS messages straight to the
// handler: a tally on its poll's subject goes to the hub, anything else is
// counted and dropped.
func TestReceiveOffersValidTalliesOnly(t *testing.T) {
	h := newHub()
	h.Hold("p")
	h.Stored(map[string]tally.Tally{"default": tl("default", 0, nil)}, true, time.Now()) // the database's epoch is ""
	reg := prometheus.NewRegistry()
	f := New(discard(), &fakeStore{}, h, "s", reg)
	msgs := []struct {
		subject, data string
		valid         bool
	}{
		{"s.p", `{"poll":"p","version":5,"counts":{"a":2,"b":3},"total":5,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`, true},
		{"s.p", `{"poll":"p","version":9,"counts":{"a":2,"b":3},"total":6}`, false},        // total is not the sum
		{"s.p", `{"poll":"q","version":10,"counts":{"a":2,"b":3},"total":5}`, false},       // another poll's subject
		{"s.default", `{"poll":"p","version":11,"counts":{"a":2,"b":3},"total":5}`, false}, // idem
		{"s.p", `{"poll":"p","version":12,"counts":{"a":2},"total":2,"state":"x"}`, false}, // unknown state
		{"s.p", `hello`, false},
	}
	for _, m := range msgs {
		f.receive(&nats.Msg{Subject: m.subject, Data: []byte(m.data)})
	}
	if got, _, _ := h.Current("p"); got.Version != 5 {
		t.Errorf("hub at version %d, want 5 (the malformed ones ignored)", got.Version)
	}
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 5 {
		t.Errorf("invalid metric %v, want 5", got)
	}
	if f.SinceNATS() < 0 || f.SinceNATS() > time.Second {
		t.Errorf("SinceNATS %v after a tally, want about 0", f.SinceNATS())
	}
}

func natsURL() string {
	if u := os.Getenv("TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// TestFeedWithNATSAndPostgres runs the feed on a real NATS (its own
// subject) and a real PostgreSQL (its own schema): the start load, live
// tallies of several polls on the wildcard (the default poll's too),
// versions that go back ignored, and the 15 s safety-net reload (here
// shortened) picking up a change NATS never announced.
func TestFeedWithNATSAndPostgres(t *testing.T) {
	pool := pgtest.Pool(t, true)
	pgtest.CreatePoll(t, pool, "p1", "Q1", []string{"A", "B", "C"}, []int64{1, 0, 0}, 1, "")
	pgtest.SetTally(t, pool, "default", []int64{2, 1}, 3, "open")
	subject := "test.tally." + strings.ToLower(rand.Text()[:10])

	h := newHub()
	store := polldb.New(pool, poll.Default("A", "B"), polldb.Options{})
	reg := prometheus.NewRegistry()
	f := New(discard(), store, h, subject, reg)
	nc, err := f.Connect(natsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx, 500*time.Millisecond)
	waitVersion(t, h, "default", 3)
	first, _, _ := h.Current("default")
	epoch := first.Epoch
	if epoch == "" {
		t.Fatal("the tally read from PostgreSQL has no epoch")
	}
	at := func(id string, v int64, counts map[string]int64, state string) tally.Tally {
		opts := []string{"a", "b", "c"}
		if id == poll.DefaultID {
			opts = opts[:2]
		}
		tt := tally.New(id, v, opts, counts, state, time.Now())
		tt.Epoch = epoch
		return tt
	}

	pub, err := nats.Connect(natsURL())
	if err != nil {
		t.Fatalf("NATS at TEST_NATS_URL is unreachable: %v; start it with `make services`", err)
	}
	defer pub.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Tally(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	publish := func(tt tally.Tally) {
		t.Helper()
		if err := pub.Publish(tally.Subject(subject, tt.Poll), tt.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
		// The default poll's tallies also go on the bare subject, which the
		// wildcard does not match: it must not be counted twice.
		if tt.Poll == poll.DefaultID {
			if err := pub.Publish(subject, tt.AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(at("p1", 2, map[string]int64{"c": 1, "a": 1}, ""))
	publish(at("default", 4, map[string]int64{"a": 3, "b": 1}, ""))
	waitVersion(t, h, "p1", 2)
	waitVersion(t, h, "default", 4)
	if got := testutil.ToFloat64(f.metrics.Received); got != 2 {
		t.Errorf("received %v tallies, want 2", got)
	}
	// An older version does not replace a newer one.
	publish(at("p1", 1, nil, ""))
	time.Sleep(100 * time.Millisecond)
	if got, _, _ := h.Current("p1"); got.Version != 2 {
		t.Errorf("p1 at version %d after an older tally, want 2", got.Version)
	}
	// The database moves on with no announcement: the periodic reload
	// shows it, the poll's close included.
	pgtest.SetTally(t, pool, "p1", []int64{1, 1, 5}, 9, "closed")
	waitVersion(t, h, "p1", 9)
	if got, _, _ := h.Current("p1"); !got.Closed() || got.Total != 7 {
		t.Errorf("p1 after reload %+v, want closed with 7 votes", got)
	}
	if err := f.CheckNATS(ctx); err != nil {
		t.Errorf("NATS not ready: %v", err)
	}

	// Restored from an older backup: the tables are emptied and filled
	// again (as psql of a pg_dump --clean does), versions lower than
	// before. The reload shows the database's lower versions; a tally of
	// the old history, at a higher version than any, is then refused.
	if _, err := pool.Exec(ctx, "TRUNCATE polls, poll_options, ballots"); err != nil {
		t.Fatal(err)
	}
	pgtest.CreatePoll(t, pool, "default", "Q", []string{"A", "B"}, []int64{1, 1}, 2, "")
	pgtest.CreatePoll(t, pool, "p1", "Q1", []string{"A", "B", "C"}, []int64{1, 0, 0}, 1, "")
	waitVersion(t, h, "p1", 1)
	waitVersion(t, h, "default", 2)
	restored, _, _ := h.Current("p1")
	if restored.Epoch == epoch || restored.Closed() || restored.Total != 1 {
		t.Errorf("p1 after the restore %+v, want the database's open tally of 1 vote in another epoch than %q", restored, epoch)
	}
	publish(at("p1", 10, map[string]int64{"b": 10}, ""))
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(f.metrics.Refused.WithLabelValues("epoch")) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(f.metrics.Refused.WithLabelValues("epoch")); got != 1 {
		t.Errorf("refused (epoch) %v, want 1", got)
	}
	if got, _, _ := h.Current("p1"); got.Version != 1 {
		t.Errorf("p1 at version %d after a tally of the old history, want the database's 1", got.Version)
	}
	// Live tallies of the restored history show.
	epoch = restored.Epoch
	publish(at("p1", 2, map[string]int64{"b": 1, "c": 1}, ""))
	waitVersion(t, h, "p1", 2)
}

// TestReceiveOfAnotherEpochReadsTheDatabase: a NATS tally of an epoch
// other than the database's last read is refused, counted, and asks for a
// read of the database (once, however many such tallies come in a
// second); what the database then holds is what the hub shows. A version
// far beyond the database's is refused and counted too.
func TestReceiveOfAnotherEpochReadsTheDatabase(t *testing.T) {
	store := &fakeStore{}
	e1 := tl("default", 40, map[string]int64{"a": 40})
	e1.Epoch = "e1"
	store.set(false, e1)
	h := newHub()
	f := New(discard(), store, h, "s", prometheus.NewRegistry())
	ctx := context.Background()
	f.load(ctx) // as Run does at start
	waitVersion(t, h, "default", 40)

	send := func(v int64, epoch string) {
		tt := tl("default", v, map[string]int64{"b": v})
		tt.Epoch = epoch
		f.receive(&nats.Msg{Subject: "s.default", Data: tt.AppendJSON(nil)})
	}
	send(41+hub.MaxAhead, "e1")
	if got := testutil.ToFloat64(f.metrics.Refused.WithLabelValues("ahead")); got != 1 {
		t.Errorf("refused (ahead) %v, want 1", got)
	}
	if len(f.reload) != 0 {
		t.Error("a version too far ahead asked for a reload")
	}
	// The database is restored (epoch e2, version 3); its worker's first
	// tallies arrive before this server has read it.
	e2 := tl("default", 3, map[string]int64{"a": 1, "b": 2})
	e2.Epoch = "e2"
	store.set(false, e2)
	send(4, "e2")
	if len(f.reload) != 1 {
		t.Fatal("a tally of another epoch did not ask for a reload")
	}
	<-f.reload
	for v := int64(5); v < 9; v++ {
		send(v, "e2")
	}
	if len(f.reload) != 0 {
		t.Error("tallies of another epoch asked for more than one reload within a second")
	}
	if got, _, _ := h.Current("default"); got.Version != 40 || got.Epoch != "e1" {
		t.Errorf("before the reload got version %d of %q, want 40 of e1 (NATS cannot switch epochs)", got.Version, got.Epoch)
	}
	if got := testutil.ToFloat64(f.metrics.Refused.WithLabelValues("epoch")); got != 5 {
		t.Errorf("refused (epoch) %v, want 5", got)
	}
	f.load(ctx) // the reload asked for
	if got, _, _ := h.Current("default"); got.Version != 3 || got.Epoch != "e2" || got.Counts["b"] != 2 {
		t.Errorf("after the reload got %+v, want the database's tally of e2 at version 3", got)
	}
	// From now on e2's tallies are live, and e1's (a late announcement of
	// the old history) are refused whatever their version.
	send(9, "e2")
	send(500, "e1")
	if got, _, _ := h.Current("default"); got.Version != 9 || got.Epoch != "e2" {
		t.Errorf("after e2's version 9 and a late tally of e1 got version %d of %q, want 9 of e2", got.Version, got.Epoch)
	}
}

// TestNotReadyUntilMigrated: before the worker has created the tables the
// feed keeps trying and PostgreSQL is not ready; once they exist it loads.
func TestNotReadyUntilMigrated(t *testing.T) {
	pool := pgtest.Pool(t, false)
	h := newHub()
	f := New(discard(), polldb.New(pool, poll.Default("A", "B"), polldb.Options{}), h, "t", prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx, time.Hour)
	time.Sleep(300 * time.Millisecond)
	if err := f.CheckPostgres(ctx); err == nil {
		t.Fatal("ready before the tables exist")
	}
	pgtest.Migrate(t, pool)
	waitVersion(t, h, "default", 0)
	if err := f.CheckPostgres(ctx); err != nil {
		t.Errorf("not ready after the migration: %v", err)
	}
}
