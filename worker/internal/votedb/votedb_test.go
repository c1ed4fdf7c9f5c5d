package votedb

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"math/big"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/poll"
	"livevote/shared/tally"
	"livevote/worker/internal/testdb"
)

// testStore returns a Store on a schema of its own, with the schema applied.
func testStore(t testing.TB) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.Pool(t)
	s := New(pool)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

// groupBy is what the contract promises the ballots answer per poll.
func groupBy(t *testing.T, pool *pgxpool.Pool, pollID string) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT vote, count(*) FROM ballots WHERE poll = $1 GROUP BY vote", pollID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
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

// originalGroupBy is the original results app's query, on the votes view.
func originalGroupBy(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
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

func current(t *testing.T, s *Store, pollID string) tally.Tally {
	t.Helper()
	m, err := s.Tallies(context.Background(), []string{pollID})
	if err != nil {
		t.Fatal(err)
	}
	return m[pollID]
}

// nonZero drops the zero counts, to compare with a GROUP BY.
func nonZero(c map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range c {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func record(t testing.TB, id string, labels ...string) poll.Record {
	t.Helper()
	p, err := poll.New(id, "Which one? "+id, labels, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return poll.Record{Poll: p, TokenHash: poll.HashToken("token-" + id)}
}

func vote(pollID, voter, opt string, ms uint64) Vote {
	return Vote{Poll: pollID, VoterID: voter, Option: opt, Seq: Seq{Ms: ms}}
}

func TestApplySequence(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	v := func(id, opt string, ms uint64) Vote { return vote(poll.DefaultID, id, opt, ms) }
	steps := []struct {
		name        string
		batch       []Vote
		wantA       int64
		wantB       int64
		wantVersion int64
		wantBallots int
	}{
		{"first votes", []Vote{v("x", "a", 10), v("y", "a", 11), v("z", "b", 12)}, 2, 1, 1, 3},
		{"change of mind", []Vote{v("y", "b", 20)}, 1, 2, 2, 1},
		{"redelivered batch changes nothing", []Vote{v("y", "b", 20)}, 1, 2, 2, 0},
		{"older entry after newer is ignored", []Vote{v("y", "a", 15)}, 1, 2, 2, 0},
		{"same choice again moves no count", []Vote{v("x", "a", 30)}, 1, 2, 2, 1},
		{"mixed batch", []Vote{v("x", "b", 40), v("w", "a", 41), v("z", "b", 5)}, 1, 3, 3, 2},
	}
	for _, st := range steps {
		res, err := s.Apply(ctx, Batch{Votes: st.batch})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(res.Polls) != 1 {
			t.Fatalf("%s: got %d polls in the result, want 1", st.name, len(res.Polls))
		}
		got := res.Polls[0].Tally
		if got.Counts["a"] != st.wantA || got.Counts["b"] != st.wantB || got.Version != st.wantVersion || res.Ballots != st.wantBallots {
			t.Errorf("%s: got a=%d b=%d version=%d ballots=%d, want a=%d b=%d version=%d ballots=%d",
				st.name, got.Counts["a"], got.Counts["b"], got.Version, res.Ballots, st.wantA, st.wantB, st.wantVersion, st.wantBallots)
		}
		if wantChanged := st.wantVersion != 0 && st.name != "redelivered batch changes nothing" &&
			st.name != "older entry after newer is ignored" && st.name != "same choice again moves no count"; res.Polls[0].Changed != wantChanged {
			t.Errorf("%s: got changed %v, want %v", st.name, res.Polls[0].Changed, wantChanged)
		}
	}
	cur := current(t, s, poll.DefaultID)
	if g := originalGroupBy(t, pool); !maps.Equal(g, nonZero(cur.Counts)) {
		t.Errorf("the original's GROUP BY on votes gives %v, tally holds %v", g, cur.Counts)
	}
}

// TestApplySeveralPolls creates two polls and votes in them in one batch:
// one poll's votes never move another's tally, and a voter has a ballot in
// each poll.
func TestApplySeveralPolls(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	res, err := s.Apply(ctx, Batch{
		Creates: []poll.Record{record(t, "talks", "Go", "SQL", "Lua"), record(t, "lunch", "Pizza", "Soup")},
		Votes: []Vote{
			vote("talks", "x", "c", 2), vote("lunch", "x", "a", 3), vote("talks", "y", "c", 4),
			vote(poll.DefaultID, "x", "b", 5),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		counts  map[string]int64
		version int64
	}{
		"default": {map[string]int64{"a": 0, "b": 1}, 1},
		"lunch":   {map[string]int64{"a": 1, "b": 0}, 1},
		"talks":   {map[string]int64{"a": 0, "b": 0, "c": 2}, 1},
	}
	if len(res.Polls) != len(want) {
		t.Fatalf("got %d polls, want %d: %+v", len(res.Polls), len(want), res.Polls)
	}
	for _, p := range res.Polls {
		w := want[p.Tally.Poll]
		if !maps.Equal(p.Tally.Counts, w.counts) || p.Tally.Version != w.version {
			t.Errorf("poll %s: got %v at version %d, want %v at %d", p.Tally.Poll, p.Tally.Counts, p.Tally.Version, w.counts, w.version)
		}
		if wantCreated := p.Tally.Poll != poll.DefaultID; p.Created != wantCreated {
			t.Errorf("poll %s: got created %v, want %v", p.Tally.Poll, p.Created, wantCreated)
		}
	}
	// A vote in one poll moves only that poll's tally and version.
	res, err = s.Apply(ctx, Batch{Votes: []Vote{vote("lunch", "x", "b", 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Polls) != 1 || res.Polls[0].Tally.Poll != "lunch" || !res.Polls[0].Changed {
		t.Fatalf("got %+v, want only lunch changed", res.Polls)
	}
	for id, w := range map[string]map[string]int64{
		"talks": {"c": 2}, "lunch": {"b": 1}, "default": {"b": 1},
	} {
		if g := groupBy(t, pool, id); !maps.Equal(g, w) {
			t.Errorf("ballots of %s: got %v, want %v", id, g, w)
		}
		if cur := current(t, s, id); !maps.Equal(nonZero(cur.Counts), w) {
			t.Errorf("tally of %s: got %v, want %v", id, cur.Counts, w)
		}
	}
	if v := current(t, s, "talks").Version; v != 1 {
		t.Errorf("talks moved to version %d by a vote in lunch, want 1", v)
	}
}

func TestApplyDropsInvalid(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	res, err := s.Apply(ctx, Batch{
		Votes: []Vote{
			vote("nosuchpoll", "x", "a", 1),
			vote(poll.DefaultID, "y", "c", 2), // default has a and b only
			vote(poll.DefaultID, "z", "a", 3),
		},
		States: []StateChange{{Poll: "ghost", State: poll.StateClosed, Seq: Seq{Ms: 4}}},
	})
	if err != nil {
		t.Fatalf("a batch with invalid entries failed: %v", err)
	}
	if res.Invalid != 3 || res.Ballots != 1 {
		t.Errorf("got invalid %d ballots %d, want 3 and 1", res.Invalid, res.Ballots)
	}
	if len(res.Polls) != 1 || res.Polls[0].Tally.Counts["a"] != 1 {
		t.Errorf("got %+v, want only default with a=1", res.Polls)
	}
}

// TestApplyStateOrder: closes and reopens apply in stream order, only real
// changes are versions, and a redelivered command never undoes a newer one.
func TestApplyStateOrder(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	st := func(state string, ms uint64) StateChange {
		return StateChange{Poll: "q", State: state, Seq: Seq{Ms: ms}}
	}
	if _, err := s.Apply(ctx, Batch{Creates: []poll.Record{record(t, "q", "Yes", "No")}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		batch       Batch
		wantState   string
		wantVersion int64
		wantChanged bool
	}{
		{"close", Batch{States: []StateChange{st("closed", 10)}}, "closed", 1, true},
		{"close again is no change", Batch{States: []StateChange{st("closed", 11)}}, "closed", 1, false},
		{"reopen then close in one batch", Batch{States: []StateChange{st("open", 12), st("closed", 13)}}, "closed", 3, true},
		{"redelivered reopen is ignored", Batch{States: []StateChange{st("open", 12)}}, "closed", 3, false},
		{"vote before a reopen", Batch{Votes: []Vote{vote("q", "v", "a", 20)}, States: []StateChange{st("open", 21)}}, "open", 5, true},
		{"redelivered older close is ignored", Batch{States: []StateChange{st("closed", 13)}}, "open", 5, false},
	}
	for _, tt := range steps {
		res, err := s.Apply(ctx, tt.batch)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(res.Polls) != 1 {
			t.Fatalf("%s: got %+v, want poll q", tt.name, res.Polls)
		}
		got := res.Polls[0]
		if got.Tally.State != tt.wantState || got.Tally.Version != tt.wantVersion || got.Changed != tt.wantChanged {
			t.Errorf("%s: got %s at version %d changed %v, want %s at %d changed %v", tt.name,
				got.Tally.State, got.Tally.Version, got.Changed, tt.wantState, tt.wantVersion, tt.wantChanged)
		}
	}
}

// TestApplyTwice: a whole batch delivered again changes nothing.
func TestApplyTwice(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	b := Batch{
		Creates: []poll.Record{record(t, "p1", "One", "Two", "Three")},
		Votes:   []Vote{vote("p1", "x", "c", 2), vote("p1", "y", "a", 3)},
		States:  []StateChange{{Poll: "p1", State: poll.StateClosed, Seq: Seq{Ms: 4}}},
	}
	first, err := s.Apply(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Apply(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Polls) != 1 || second.Polls[0].Changed || second.Polls[0].Created || second.Ballots != 0 {
		t.Errorf("second apply got %+v, want nothing changed", second)
	}
	if a, b := first.Polls[0].Tally, second.Polls[0].Tally; a.Version != b.Version || !maps.Equal(a.Counts, b.Counts) || a.State != b.State {
		t.Errorf("tally moved from %+v to %+v", a, b)
	}
	if g := groupBy(t, pool, "p1"); !maps.Equal(g, map[string]int64{"a": 1, "c": 1}) {
		t.Errorf("ballots %v, want a=1 c=1", g)
	}
	if got := len(second.Changed()); got != 0 {
		t.Errorf("Changed() has %d tallies, want 0", got)
	}
}

// TestConcurrentApply runs batches from several goroutines, as several
// workers would, over several polls with voters shared between them and
// entries delivered twice; each poll's tally must equal its ballots and
// hold each voter's highest-sequence vote.
func TestConcurrentApply(t *testing.T) {
	s, pool := testStore(t)
	ctx := context.Background()
	polls := []string{poll.DefaultID, "p1", "p2", "p3"}
	if _, err := s.Apply(ctx, Batch{Creates: []poll.Record{
		record(t, "p1", "A", "B", "C"), record(t, "p2", "A", "B"), record(t, "p3", "A", "B", "C", "D")}}); err != nil {
		t.Fatal(err)
	}
	const voters, entries, workers = 200, 6000, 4
	all := make([]Vote, entries)
	want := make(map[ballotKey]Vote)
	for i := range all {
		p := polls[randInt(len(polls))]
		id := fmt.Sprintf("voter%03d", randInt(voters))
		opt := []string{"a", "b"}[randInt(2)]
		all[i] = vote(p, id, opt, uint64(1000+i))
		want[ballotKey{p, id}] = all[i]
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
				if _, err := s.Apply(ctx, Batch{Votes: batch}); err != nil {
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
	wantCounts := make(map[string]map[string]int64)
	for k, v := range want {
		if wantCounts[k.poll] == nil {
			wantCounts[k.poll] = map[string]int64{}
		}
		wantCounts[k.poll][v.Option]++
	}
	for _, p := range polls {
		if cur := current(t, s, p); !maps.Equal(nonZero(cur.Counts), wantCounts[p]) {
			t.Errorf("poll %s: tally %v, want each voter's last vote %v", p, cur.Counts, wantCounts[p])
		}
		if g := groupBy(t, pool, p); !maps.Equal(g, wantCounts[p]) {
			t.Errorf("poll %s: ballots GROUP BY %v, want %v", p, g, wantCounts[p])
		}
	}
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// BenchmarkApply1000 commits batches of 1,000 votes (a quarter of them
// changes of mind) against the real database.
func BenchmarkApply1000(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
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
			batch[i] = vote(poll.DefaultID, id, []string{"a", "b"}[seq%2], seq)
		}
		if _, err := s.Apply(ctx, Batch{Votes: Latest(batch)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "votes/s")
}

// BenchmarkApply1000Changes is the load of make bench's ingest phase: in
// each batch of 1,000, half are new voters and half are earlier voters
// changing their minds, so half the upserts replace a ballot and move two
// counts. Its cost per batch must not grow with the returning voters.
func BenchmarkApply1000Changes(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	var seq, voters uint64
	batch := make([]Vote, 1000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			seq++
			voter := voters
			if i%2 == 0 || voters < 1000 {
				voters++
				voter = voters
			} else {
				voter = 1 + seq*7919%voters // an earlier voter, spread out
			}
			batch[i] = vote(poll.DefaultID, fmt.Sprintf("voter%017d", voter), []string{"a", "b"}[(seq+voter)%2], seq)
		}
		if _, err := s.Apply(ctx, Batch{Votes: Latest(batch)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "votes/s")
}

func TestExisting(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	if _, err := s.Apply(ctx, Batch{Creates: []poll.Record{record(t, "p1", "One", "Two")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"none asked", nil, nil},
		{"one missing", []string{"p2"}, nil},
		{"mixed", []string{"p2", "p1", poll.DefaultID}, []string{poll.DefaultID, "p1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Existing(ctx, tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkApplyManyPolls is the load of make bench's polls phase: 1,000
// polls of 2 to 12 options, batches of 2,000 votes spread over them (about
// 870 polls each), half of them earlier voters changing their minds. Its
// cost per batch must not grow much faster with the polls touched than
// with the votes.
func BenchmarkApplyManyPolls(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	const polls = 1000
	ids := make([]string, polls)
	opts := make([]int, polls)
	creates := make([]poll.Record, polls)
	for i := range polls {
		ids[i] = fmt.Sprintf("bench-%04d", i)
		opts[i] = 2 + i%11
		labels := make([]string, opts[i])
		for j := range labels {
			labels[j] = fmt.Sprintf("Option %d", j)
		}
		creates[i] = record(b, ids[i], labels...)
	}
	if _, err := s.Apply(ctx, Batch{Creates: creates}); err != nil {
		b.Fatal(err)
	}
	var seq, voters uint64
	batch := make([]Vote, 2000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			seq++
			voter := voters
			if i%2 == 0 || voters < 2000 {
				voters++
				voter = voters
			} else {
				voter = 1 + seq*7919%voters // an earlier voter, spread out
			}
			// A voter always votes in the same poll, so a returning voter
			// replaces a ballot.
			p := voter * 2654435761 % polls
			batch[i] = vote(ids[p], fmt.Sprintf("voter%017d", voter), poll.OptionID(int((seq+voter)%uint64(opts[p]))), seq)
		}
		if _, err := s.Apply(ctx, Batch{Votes: Latest(batch)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "votes/s")
}

// TestApplyTalliesMatchSelectTallies checks that the tallies Apply reads
// back (batchTallies, one row per poll) equal what the result server reads
// (schema.SelectTallies, one row per option), counts of zero, state and
// time included.
func TestApplyTalliesMatchSelectTallies(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	res, err := s.Apply(ctx, Batch{
		Creates: []poll.Record{record(t, "twelve", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"), record(t, "two", "Yes", "No")},
		Votes: []Vote{
			vote("twelve", "x", "l", 2), vote("twelve", "y", "a", 3), vote("two", "x", "b", 4),
			vote("missing", "x", "a", 5), vote("two", "y", "z", 6),
		},
		States: []StateChange{{Poll: "two", State: poll.StateClosed, Seq: Seq{Ms: 7}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Invalid != 2 {
		t.Errorf("got %d invalid, want 2 (unknown poll, unknown option)", res.Invalid)
	}
	if len(res.Polls) != 2 {
		t.Fatalf("got %d polls, want 2: %+v", len(res.Polls), res.Polls)
	}
	for _, p := range res.Polls {
		want := current(t, s, p.Tally.Poll)
		if !reflect.DeepEqual(p.Tally, want) {
			t.Errorf("poll %s: Apply read %+v, SelectTallies reads %+v", p.Tally.Poll, p.Tally, want)
		}
	}
	if got := res.Polls[1].Tally; got.State != poll.StateClosed || got.Counts["a"] != 0 || got.Counts["b"] != 1 {
		t.Errorf("poll two: got %+v, want closed with a=0 b=1", got)
	}
}
