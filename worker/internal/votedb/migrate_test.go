package votedb

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"livevote/shared/poll"
	"livevote/worker/internal/testdb"
)

// TestMigrate starts from each kind of database a worker may meet and
// checks that the default poll then holds its votes, that the original
// app's query still answers them, and that votes go on being counted.
func TestMigrate(t *testing.T) {
	tests := []struct {
		name        string
		setup       string
		wantCounts  map[string]int64
		wantVersion int64
	}{
		{"empty schema", "", map[string]int64{}, 0},
		{"version 1 of ours", `
			CREATE TABLE votes (id text PRIMARY KEY, vote text NOT NULL,
				seq_ms bigint NOT NULL DEFAULT 0, seq_n bigint NOT NULL DEFAULT 0);
			CREATE TABLE tally (option text PRIMARY KEY, votes bigint NOT NULL);
			CREATE TABLE tally_version (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
				version bigint NOT NULL, updated_at timestamptz NOT NULL);
			INSERT INTO votes VALUES ('p', 'a', 5, 0), ('q', 'a', 6, 0), ('r', 'b', 7, 0);
			INSERT INTO tally VALUES ('a', 2), ('b', 1);
			INSERT INTO tally_version VALUES (true, 7, now())`,
			map[string]int64{"a": 2, "b": 1}, 7},
		{"the original app's", `
			CREATE TABLE votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL);
			INSERT INTO votes VALUES ('p', 'a'), ('q', 'b'), ('r', 'b'), ('s', 'b')`,
			map[string]int64{"a": 1, "b": 3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := testdb.Pool(t)
			if tt.setup != "" {
				if _, err := pool.Exec(ctx, tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			s := New(pool)
			if err := s.Ping(ctx); err == nil {
				t.Error("Ping before Migrate: got nil, want not ready")
			}
			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(applied, []int64{1, 2}) {
				t.Errorf("applied %v, want [1 2]", applied)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping after Migrate: %v", err)
			}
			cur := current(t, s, poll.DefaultID)
			if !maps.Equal(nonZero(cur.Counts), tt.wantCounts) || cur.Version != tt.wantVersion {
				t.Errorf("default poll: got %v at version %d, want %v at %d", cur.Counts, cur.Version, tt.wantCounts, tt.wantVersion)
			}
			if g := groupBy(t, pool, poll.DefaultID); !maps.Equal(g, tt.wantCounts) {
				t.Errorf("ballots: got %v, want %v", g, tt.wantCounts)
			}
			if g := originalGroupBy(t, pool); !maps.Equal(g, tt.wantCounts) {
				t.Errorf("SELECT vote, COUNT(id) FROM votes: got %v, want %v", g, tt.wantCounts)
			}
			// An old voter changes their mind with a newer stream entry.
			res, err := s.Apply(ctx, Batch{Votes: []Vote{vote(poll.DefaultID, "p", "b", 1700000000000)}})
			if err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(tt.wantCounts)
			if want["a"] > 0 {
				want["a"]--
			}
			want["b"]++
			if got := res.Polls[0].Tally; !maps.Equal(nonZero(got.Counts), nonZero(want)) || got.Version != tt.wantVersion+1 {
				t.Errorf("after p votes b: got %v at %d, want %v at %d", got.Counts, got.Version, want, tt.wantVersion+1)
			}
			if g := originalGroupBy(t, pool); !maps.Equal(g, nonZero(want)) {
				t.Errorf("after p votes b: GROUP BY on votes %v, want %v", g, want)
			}
		})
	}
}

// TestMigrateConcurrentAndRepeated: several workers starting at once on an
// empty schema, then again on a migrated one with votes in it.
func TestMigrateConcurrentAndRepeated(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	migrateAll := func() [][]int64 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var applied [][]int64
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := New(pool).Migrate(ctx)
				if err != nil {
					t.Errorf("concurrent Migrate: %v", err)
				}
				mu.Lock()
				applied = append(applied, got)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return applied
	}
	total := 0
	for _, a := range migrateAll() {
		total += len(a)
	}
	if total != 2 {
		t.Errorf("three workers applied %d migrations in all, want 2 (each once)", total)
	}
	s := New(pool)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, Batch{Votes: []Vote{vote(poll.DefaultID, "x", "b", 1)}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range migrateAll() {
		if len(a) != 0 {
			t.Errorf("re-migrating applied %v, want nothing", a)
		}
	}
	cur := current(t, s, poll.DefaultID)
	if cur.Counts["b"] != 1 || cur.Version != 1 {
		t.Errorf("after re-migrating got %+v, want b=1 at version 1 kept", cur)
	}
}
