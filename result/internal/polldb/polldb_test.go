package polldb

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"livevote/result/internal/pgtest"
	"livevote/shared/poll"
	"livevote/shared/schema"
)

var defaultPoll = poll.Default("Tea", "Coffee")

func TestPoll(t *testing.T) {
	pool := pgtest.Pool(t, true)
	pgtest.CreatePoll(t, pool, "talks", "Which talk next?", []string{"Go", "SQL", "CSS", "Redis"}, nil, 0, "")
	s := New(pool, defaultPoll, Options{NotFoundWait: 200 * time.Millisecond})
	ctx := context.Background()

	tests := []struct {
		name, id     string
		wantQuestion string
		wantLabels   []string
		wantErr      error
	}{
		{"default from the configuration", "default", "Tea vs Coffee!", []string{"Tea", "Coffee"}, nil},
		{"options in position order", "talks", "Which talk next?", []string{"Go", "SQL", "CSS", "Redis"}, nil},
		{"unknown", "nope", "", nil, ErrNotFound},
		{"not a poll id", "No Such/Poll", "", nil, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Poll(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if p.Question != tt.wantQuestion {
				t.Errorf("got question %q, want %q", p.Question, tt.wantQuestion)
			}
			var labels []string
			for i, o := range p.Options {
				if o.ID != poll.OptionID(i) {
					t.Errorf("option %d has id %q, want %q", i, o.ID, poll.OptionID(i))
				}
				labels = append(labels, o.Label)
			}
			if !slices.Equal(labels, tt.wantLabels) {
				t.Errorf("got labels %v, want %v", labels, tt.wantLabels)
			}
		})
	}
}

// TestUnknownIsAskedAgain: a poll that appears while the store is still
// asking (the worker was a little behind) is found, not a 404.
func TestUnknownIsAskedAgain(t *testing.T) {
	pool := pgtest.Pool(t, true)
	s := New(pool, defaultPoll, Options{NotFoundWait: 2 * time.Second})
	go func() {
		time.Sleep(300 * time.Millisecond)
		pgtest.CreatePoll(t, pool, "late", "Late?", []string{"Yes", "No"}, nil, 0, "")
	}()
	start := time.Now()
	p, err := s.Poll(context.Background(), "late")
	if err != nil || p.Question != "Late?" {
		t.Fatalf("got %+v, %v, want the late poll", p, err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("found after %v, before the poll existed", d)
	}
	// An id that never appears: not found after about NotFoundWait.
	start = time.Now()
	if _, err := s.Poll(context.Background(), "never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("not found after %v, want about 2s", d)
	}
	// An invalid id: at once.
	start = time.Now()
	if _, err := s.Poll(context.Background(), "-bad"); !errors.Is(err, ErrNotFound) || time.Since(start) > 50*time.Millisecond {
		t.Errorf("invalid id: got %v after %v, want ErrNotFound at once", err, time.Since(start))
	}
}

// countingQuerier counts the queries that reach the database.
type countingQuerier struct {
	Querier
	mu sync.Mutex
	n  int
}

func (q *countingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	q.mu.Lock()
	q.n++
	q.mu.Unlock()
	return q.Querier.Query(ctx, sql, args...)
}

func TestDefinitionsAreCachedAndBounded(t *testing.T) {
	pool := pgtest.Pool(t, true)
	for _, id := range []string{"p1", "p2", "p3"} {
		pgtest.CreatePoll(t, pool, id, "Q "+id, []string{"A", "B"}, nil, 0, "")
	}
	q := &countingQuerier{Querier: pool}
	s := New(q, defaultPoll, Options{MaxCached: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Poll(ctx, "p1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if q.n != 1 {
		t.Errorf("20 concurrent reads of one poll made %d queries, want 1", q.n)
	}
	for _, id := range []string{"p2", "p3"} {
		if _, err := s.Poll(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.cache); n > 2 {
		t.Errorf("cache holds %d definitions, want at most 2", n)
	}
}

func TestTalliesInOneQuery(t *testing.T) {
	pool := pgtest.Pool(t, true)
	pgtest.CreatePoll(t, pool, "p1", "Q1", []string{"A", "B", "C"}, []int64{1, 2, 3}, 7, "closed")
	pgtest.CreatePoll(t, pool, "p2", "Q2", []string{"A", "B"}, []int64{0, 4}, 2, "")
	q := &countingQuerier{Querier: pool}
	s := New(q, defaultPoll, Options{})
	got, err := s.Tallies(context.Background(), []string{"p1", "p2", "default", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if q.n != 1 {
		t.Errorf("made %d queries, want 1", q.n)
	}
	if len(got) != 3 {
		t.Errorf("got %d tallies, want 3 (p1, p2, default)", len(got))
	}
	if p1 := got["p1"]; p1.Version != 7 || p1.Total != 6 || p1.Counts["c"] != 3 || !p1.Closed() {
		t.Errorf("p1 got %+v, want version 7, total 6, c 3, closed", p1)
	}
	if p2 := got["p2"]; p2.Version != 2 || p2.Counts["b"] != 4 || p2.Closed() {
		t.Errorf("p2 got %+v, want version 2, b 4, open", p2)
	}
	// Every tally names the database's epoch, the same for all.
	epoch := got["p1"].Epoch
	if len(epoch) != 12 || got["p2"].Epoch != epoch || got["default"].Epoch != epoch {
		t.Errorf("epochs %q, %q, %q: want one epoch of 12 characters", epoch, got["p2"].Epoch, got["default"].Epoch)
	}
}

func TestNoSchemaYet(t *testing.T) {
	pool := pgtest.Pool(t, false)
	s := New(pool, defaultPoll, Options{NotFoundWait: 50 * time.Millisecond})
	if _, err := s.Tallies(context.Background(), []string{"default"}); !errors.Is(err, schema.ErrNoSchema) {
		t.Errorf("tallies: got %v, want ErrNoSchema", err)
	}
	if _, err := s.Poll(context.Background(), "talks"); !errors.Is(err, schema.ErrNoSchema) {
		t.Errorf("poll: got %v, want ErrNoSchema", err)
	}
}
