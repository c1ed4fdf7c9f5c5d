package feed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"livevote/shared/tally"
)

// fakeStore is a PostgreSQL whose tally and availability the test sets.
type fakeStore struct {
	mu    sync.Mutex
	t     tally.Tally
	down  bool
	reads int
}

func (s *fakeStore) Current(context.Context) (tally.Tally, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.down {
		return tally.Tally{}, errors.New("connection refused")
	}
	return s.t, nil
}

func (s *fakeStore) set(t tally.Tally, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t, s.down = t, down
}

type lastView struct {
	mu sync.Mutex
	t  tally.Tally
}

func (v *lastView) Offer(t tally.Tally) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.Version < v.t.Version {
		return false
	}
	v.t = t
	return true
}

func (v *lastView) version() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.t.Version
}

func waitVersion(t *testing.T, v *lastView, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for v.version() != want {
		if time.Now().After(deadline) {
			t.Fatalf("view at version %d, want %d", v.version(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunLoadsRetriesAndReloads: the first load waits out a database that
// is down; Reload (as after a NATS reconnection) catches up with what was
// committed meanwhile.
func TestRunLoadsRetriesAndReloads(t *testing.T) {
	store := &fakeStore{}
	store.set(tally.New(3, map[string]int64{"a": 3}, time.Now()), true)
	view := &lastView{}
	f := New(slog.New(slog.DiscardHandler), store, view, NewMetrics(prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx, time.Hour)

	time.Sleep(150 * time.Millisecond)
	if view.version() != 0 {
		t.Fatal("a tally arrived while the database was down")
	}
	store.set(tally.New(3, map[string]int64{"a": 3}, time.Now()), false)
	waitVersion(t, view, 3)

	store.set(tally.New(7, map[string]int64{"a": 7}, time.Now()), false)
	f.Reload()
	waitVersion(t, view, 7)
}

// TestReceiveOffersValidTalliesOnly feeds NATS messages straight to the
// handler: a tally goes to the view, anything else is counted and dropped.
func TestReceiveOffersValidTalliesOnly(t *testing.T) {
	view := &lastView{}
	m := NewMetrics(prometheus.NewRegistry())
	f := New(slog.New(slog.DiscardHandler), &fakeStore{}, view, m)
	f.receive(&nats.Msg{Subject: "s", Data: []byte(`{"version":5,"counts":{"a":2,"b":3},"total":5,"updated_at":"2026-11-26T19:30:00.123Z"}`)})
	f.receive(&nats.Msg{Subject: "s", Data: []byte(`{"version":9,"counts":{"a":2,"b":3},"total":6}`)})
	f.receive(&nats.Msg{Subject: "s", Data: []byte(`hello`)})
	if view.version() != 5 {
		t.Errorf("view at version %d, want 5 (the malformed version 9 ignored)", view.version())
	}
	if got := testutil.ToFloat64(m.Invalid); got != 2 {
		t.Errorf("invalid metric %v, want 2", got)
	}
}

func TestSinceNATS(t *testing.T) {
	f := New(slog.New(slog.DiscardHandler), &fakeStore{}, &lastView{}, NewMetrics(prometheus.NewRegistry()))
	if f.SinceNATS() != -1 {
		t.Errorf("before any message got %v, want -1", f.SinceNATS())
	}
	f.receive(&nats.Msg{Subject: "s", Data: []byte(`{"version":1,"counts":{"a":1,"b":0},"total":1}`)})
	if d := f.SinceNATS(); d < 0 || d > time.Second {
		t.Errorf("just after a message got %v, want about 0", d)
	}
}
