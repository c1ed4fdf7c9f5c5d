package votedb

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/worker/internal/testdb"
)

// testStore returns a Store on a schema of its own, with the schema applied.
func testStore(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.Pool(t)
	s := New(pool)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func groupBy(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT vote, count(*) FROM votes GROUP BY vote")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{"a": 0, "b": 0}
	for rows.Next() {
		var v string
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		got[v] = n
	}
	return got
}

func TestApplySequence(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v := func(id, opt string, ms uint64) Vote { return Vote{VoterID: id, Option: opt, Seq: Seq{Ms: ms}} }
	steps := []struct {
		name        string
		batch       []Vote
		wantA       int64
		wantB       int64
		wantVersion int64
		wantChanged int
	}{
		{"first votes", []Vote{v("x", "a", 10), v("y", "a", 11), v("z", "b", 12)}, 2, 1, 1, 3},
		{"change of mind", []Vote{v("y", "b", 20)}, 1, 2, 2, 1},
		{"redelivered batch changes nothing", []Vote{v("y", "b", 20)}, 1, 2, 2, 0},
		{"older entry after newer is ignored", []Vote{v("y", "a", 15)}, 1, 2, 2, 0},
		{"same choice again moves no count", []Vote{v("x", "a", 30)}, 1, 2, 2, 1},
		{"mixed batch", []Vote{v("x", "b", 40), v("w", "a", 41), v("z", "b", 5)}, 1, 3, 3, 2},
	}
	for _, st := range steps {
		res, err := s.Apply(ctx, st.batch)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := res.Tally
		if got.Counts["a"] != st.wantA || got.Counts["b"] != st.wantB || got.Version != st.wantVersion || res.Changed != st.wantChanged {
			t.Errorf("%s: got a=%d b=%d version=%d changed=%d, want a=%d b=%d version=%d changed=%d",
				st.name, got.Counts["a"], got.Counts["b"], got.Version, res.Changed, st.wantA, st.wantB, st.wantVersion, st.wantChanged)
		}
		if got.Total != got.Counts["a"]+got.Counts["b"] {
			t.Errorf("%s: total %d is not the sum of counts", st.name, got.Total)
		}
	}
	cur, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g := groupBy(t, pool); g["a"] != cur.Counts["a"] || g["b"] != cur.Counts["b"] {
		t.Errorf("GROUP BY gives %v, tally holds %v", g, cur.Counts)
	}
}

// TestConcurrentApply runs batches from several goroutines, as several
// workers would, with voters shared between them and entries delivered
// twice; the tally must equal the votes table and hold each voter's
// highest-sequence vote.
func TestConcurrentApply(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	const voters, entries, workers = 300, 6000, 4
	all := make([]Vote, entries)
	want := make(map[string]Vote)
	for i := range all {
		id := fmt.Sprintf("voter%03d", randInt(voters))
		opt := []string{"a", "b"}[randInt(2)]
		all[i] = Vote{VoterID: id, Option: opt, Seq: Seq{Ms: uint64(1000 + i)}}
		want[id] = all[i]
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine takes every entry whose index falls to it, plus
			// every seventh entry of everyone's (redeliveries), in batches of 50.
			var mine []Vote
			for i, v := range all {
				if i%workers == w || i%7 == 0 {
					mine = append(mine, v)
				}
			}
			for len(mine) > 0 {
				n := min(50, len(mine))
				batch := Latest(append([]Vote(nil), mine[:n]...))
				mine = mine[n:]
				if _, err := s.Apply(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantCounts := map[string]int64{"a": 0, "b": 0}
	for _, v := range want {
		wantCounts[v.Option]++
	}
	cur, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Counts["a"] != wantCounts["a"] || cur.Counts["b"] != wantCounts["b"] {
		t.Errorf("tally %v, want each voter's last vote %v", cur.Counts, wantCounts)
	}
	if g := groupBy(t, pool); g["a"] != wantCounts["a"] || g["b"] != wantCounts["b"] {
		t.Errorf("votes table GROUP BY %v, want %v", g, wantCounts)
	}
}

func TestMigrateConcurrentAndRepeated(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	if _, err := s.Apply(ctx, []Vote{{VoterID: "x", Option: "b", Seq: Seq{Ms: 1}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- New(pool).Migrate(ctx) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	cur, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Counts["b"] != 1 || cur.Version != 1 {
		t.Errorf("after re-migrating got %+v, want b=1 at version 1 kept", cur)
	}
}

// TestMigrateCarriesOverOriginalVotes starts from a votes table of the
// original design (id, vote only) holding rows.
func TestMigrateCarriesOverOriginalVotes(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP TABLE votes, tally, tally_version;
		CREATE TABLE votes (id text PRIMARY KEY, vote text NOT NULL);
		INSERT INTO votes VALUES ('p', 'a'), ('q', 'a'), ('r', 'b')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Counts["a"] != 2 || cur.Counts["b"] != 1 {
		t.Fatalf("got counts %v, want a=2 b=1 from the existing rows", cur.Counts)
	}
	res, err := s.Apply(ctx, []Vote{{VoterID: "q", Option: "b", Seq: Seq{Ms: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tally.Counts["a"] != 1 || res.Tally.Counts["b"] != 2 {
		t.Errorf("after q changes to b got %v, want a=1 b=2", res.Tally.Counts)
	}
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// BenchmarkApply1000 commits batches of 1,000 votes (a quarter of them
// changes of mind) against the real database.
func BenchmarkApply1000(b *testing.B) {
	pool := testdb.Pool(b)
	s := New(pool)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	seq := uint64(0)
	batch := make([]Vote, 1000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			seq++
			id := fmt.Sprintf("voter%017d", seq)
			if i%4 == 0 && seq > 2000 {
				id = fmt.Sprintf("voter%017d", seq-1500)
			}
			batch[i] = Vote{VoterID: id, Option: []string{"a", "b"}[seq%2], Seq: Seq{Ms: seq}}
		}
		if _, err := s.Apply(ctx, Latest(batch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "votes/s")
}
