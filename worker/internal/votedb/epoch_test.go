package votedb

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/poll"
)

var epochShape = regexp.MustCompile(`^[0-9a-f]{12}$`)

// TestEpochInEveryTally: every tally the worker reads carries the
// database's epoch, the same one Epoch answers, and it stays the same
// while votes are applied and the tables are vacuumed and analyzed.
func TestEpochInEveryTally(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	epoch, err := s.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !epochShape.MatchString(epoch) {
		t.Fatalf("got epoch %q, want 12 hex digits", epoch)
	}
	res, err := s.Apply(ctx, Batch{
		Creates: []poll.Record{record(t, "p1", "One", "Two")},
		Votes:   []Vote{vote("p1", "v1", "a", 1), vote(poll.DefaultID, "v1", "b", 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epoch != epoch || len(res.Polls) != 2 {
		t.Fatalf("Apply: got epoch %q over %d polls, want %q over 2", res.Epoch, len(res.Polls), epoch)
	}
	for _, p := range res.Polls {
		if p.Tally.Epoch != epoch {
			t.Errorf("Apply's tally of %s: got epoch %q, want %q", p.Tally.Poll, p.Tally.Epoch, epoch)
		}
	}
	tallies, err := s.Tallies(ctx, []string{"p1", poll.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	recent, err := s.Recent(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Polls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tallies) != 2 || len(recent) != 2 || len(stored) != 1 {
		t.Fatalf("got %d tallies, %d recent, %d polls; want 2, 2, 1", len(tallies), len(recent), len(stored))
	}
	for _, tl := range tallies {
		if tl.Epoch != epoch {
			t.Errorf("Tallies of %s: got epoch %q, want %q", tl.Poll, tl.Epoch, epoch)
		}
	}
	for _, tl := range recent {
		if tl.Epoch != epoch {
			t.Errorf("Recent of %s: got epoch %q, want %q", tl.Poll, tl.Epoch, epoch)
		}
	}
	if got := stored[0].Tally.Epoch; got != epoch {
		t.Errorf("Polls: got epoch %q, want %q", got, epoch)
	}

	for i := range 20 {
		if _, err := s.Apply(ctx, Batch{Votes: []Vote{vote("p1", "v1", []string{"a", "b"}[i%2], uint64(10+i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE polls"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Epoch(ctx); err != nil || got != epoch {
		t.Errorf("after 20 batches and VACUUM ANALYZE: got epoch %q (%v), want %q unchanged", got, err, epoch)
	}

	other, _ := testStore(t)
	if got, err := other.Epoch(ctx); err != nil || got == epoch {
		t.Errorf("another schema's epoch: got %q (%v), want one other than %q", got, err, epoch)
	}
}

// TestEpochChangesWithTheHistory: what a restore does to the tables gives
// a new epoch.
func TestEpochChangesWithTheHistory(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s *Store, pool *pgxpool.Pool)
	}{
		{"truncated", func(t *testing.T, _ *Store, pool *pgxpool.Pool) {
			exec(t, pool, "TRUNCATE polls, poll_options, ballots")
		}},
		{"dropped and re-created (pg_restore --clean)", func(t *testing.T, s *Store, pool *pgxpool.Pool) {
			var schema string
			if err := pool.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil {
				t.Fatal(err)
			}
			exec(t, pool, "DROP SCHEMA "+schema+" CASCADE")
			exec(t, pool, "CREATE SCHEMA "+schema)
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten by VACUUM FULL (how an operator marks a restore that kept the files)", func(t *testing.T, _ *Store, pool *pgxpool.Pool) {
			exec(t, pool, "VACUUM FULL polls")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, pool := testStore(t)
			ctx := context.Background()
			if _, err := s.Apply(ctx, Batch{Votes: []Vote{vote(poll.DefaultID, "v1", "a", 1)}}); err != nil {
				t.Fatal(err)
			}
			before, err := s.Epoch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, s, pool)
			after, err := s.Epoch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after == before || !epochShape.MatchString(after) {
				t.Errorf("got epoch %q after, %q before; want another epoch of 12 hex digits", after, before)
			}
			// A batch's tallies carry the new epoch (its cached statements
			// are planned again on the new tables).
			if _, err := s.Apply(ctx, Batch{Creates: []poll.Record{record(t, "p2", "One", "Two")}}); err != nil {
				t.Fatal(err)
			}
			res, err := s.Apply(ctx, Batch{Votes: []Vote{vote("p2", "v1", "b", 5)}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Epoch != after {
				t.Errorf("a batch after it: got epoch %q, want %q", res.Epoch, after)
			}
		})
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
