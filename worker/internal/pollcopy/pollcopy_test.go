package pollcopy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
	"livevote/shared/tally"
	"livevote/worker/internal/testredis"
	"livevote/worker/internal/votedb"
)

func TestWriteTalliesKeepsHigherVersion(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	c := New(rdb, ballot.OneShard(stream), 0)
	key := ballot.OneShard(stream).PollKey(0, "p1")
	if err := rdb.HSet(ctx, key, ballot.PollDef, "{}", ballot.PollState, "open").Err(); err != nil {
		t.Fatal(err)
	}
	at := func(v int64, a int64) tally.Tally {
		return tally.New("p1", v, []string{"a", "b"}, map[string]int64{"a": a}, "open", time.Unix(0, 0))
	}
	steps := []struct {
		name        string
		in          tally.Tally
		wantVersion string
	}{
		{"first", at(3, 3), "3"},
		{"older is ignored", at(2, 2), "3"},
		{"same is ignored", at(3, 9), "3"},
		{"newer replaces", at(5, 5), "5"},
	}
	for _, st := range steps {
		if err := c.WriteTallies(ctx, []tally.Tally{st.in, at(1, 1)}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := rdb.HGet(ctx, key, ballot.PollTallyVersion).Result()
		if err != nil || got != st.wantVersion {
			t.Errorf("%s: got version %q (err %v), want %s", st.name, got, err, st.wantVersion)
		}
	}
	var back tally.Tally
	raw, _ := rdb.HGet(ctx, key, ballot.PollTally).Result()
	if err := json.Unmarshal([]byte(raw), &back); err != nil || back.Version != 5 || back.Counts["a"] != 5 {
		t.Errorf("stored tally %s (err %v), want version 5 with a=5", raw, err)
	}
	// A poll whose hash is missing gets none from a tally alone.
	if err := c.WriteTallies(ctx, []tally.Tally{tally.New("gone", 1, []string{"a", "b"}, nil, "open", time.Now())}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, ballot.OneShard(stream).PollKey(0, "gone")).Result(); n != 0 {
		t.Error("a tally created the hash of a poll that had none")
	}
}

// TestWriteTalliesFollowsTheEpoch: within an epoch the higher version
// stays; a tally of another epoch replaces whatever version is there (the
// database was restored and its versions went back).
func TestWriteTalliesFollowsTheEpoch(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	c := New(rdb, ballot.OneShard(stream), 0)
	key := ballot.OneShard(stream).PollKey(0, "p1")
	// As a worker older than epochs left it: a version, no epoch.
	if err := rdb.HSet(ctx, key, ballot.PollDef, "{}", ballot.PollState, "open", ballot.PollTallyVersion, "40").Err(); err != nil {
		t.Fatal(err)
	}
	at := func(v int64, epoch string) tally.Tally {
		tl := tally.New("p1", v, []string{"a", "b"}, map[string]int64{"a": v}, "open", time.Unix(0, 0))
		tl.Epoch = epoch
		return tl
	}
	steps := []struct {
		name               string
		in                 tally.Tally
		wantVersion, epoch string
	}{
		{"no epoch, older than the old worker's: ignored", at(39, ""), "40", ""},
		{"no epoch, newer: replaces", at(41, ""), "41", ""},
		{"an epoch, older: replaces (another epoch)", at(30, "e1"), "30", "e1"},
		{"same epoch, older: ignored", at(29, "e1"), "30", "e1"},
		{"same epoch, same version: ignored", at(30, "e1"), "30", "e1"},
		{"same epoch, newer: replaces", at(31, "e1"), "31", "e1"},
		{"restored, far older: replaces", at(3, "e2"), "3", "e2"},
		{"the restored history goes on", at(4, "e2"), "4", "e2"},
		{"the old epoch's higher version no longer wins by its version", at(32, "e1"), "32", "e1"},
	}
	for _, st := range steps {
		if err := c.WriteTallies(ctx, []tally.Tally{st.in}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		h, err := rdb.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if h[ballot.PollTallyVersion] != st.wantVersion || h[ballot.PollTallyEpoch] != st.epoch {
			t.Errorf("%s: got version %q epoch %q, want %s %q", st.name, h[ballot.PollTallyVersion], h[ballot.PollTallyEpoch], st.wantVersion, st.epoch)
		}
		var back tally.Tally
		if raw, ok := h[ballot.PollTally]; ok {
			if err := json.Unmarshal([]byte(raw), &back); err != nil || fmt.Sprint(back.Version) != h[ballot.PollTallyVersion] || back.Epoch != h[ballot.PollTallyEpoch] {
				t.Errorf("%s: stored tally %s (err %v) disagrees with version %s epoch %q", st.name, raw, err, h[ballot.PollTallyVersion], h[ballot.PollTallyEpoch])
			}
		}
	}
}

func TestRestoreWritesOnlyMissing(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	c := New(rdb, ballot.OneShard(stream), 0)
	stored := func(id, state string, version int64) votedb.Stored {
		p, err := poll.New(id, "Q "+id, []string{"Red", "Blue"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.State = state
		tl := tally.New(id, version, p.OptionIDs(), map[string]int64{"b": 2}, state, time.Now())
		tl.Epoch = "e7"
		return votedb.Stored{Record: poll.Record{Poll: p, TokenHash: poll.HashToken("x")}, Tally: tl}
	}
	// p1's copy exists and holds a close the worker has not applied yet.
	if err := rdb.HSet(ctx, ballot.OneShard(stream).PollKey(0, "p1"), ballot.PollDef, "{}", ballot.PollState, "closed").Err(); err != nil {
		t.Fatal(err)
	}
	// p3's copy holds an older reopen than the close PostgreSQL applied.
	if err := rdb.HSet(ctx, ballot.OneShard(stream).PollKey(0, "p3"), ballot.PollDef, "{}", ballot.PollState, "open", ballot.PollStateAt, "5-0").Err(); err != nil {
		t.Fatal(err)
	}
	p3 := stored("p3", "closed", 2)
	p3.StateAt = "9-0"
	all := []votedb.Stored{stored("p1", "open", 4), stored("p2", "closed", 7), p3}
	n, err := c.Restore(ctx, all)
	if err != nil || n != 2 {
		t.Fatalf("restored %d (err %v), want 2", n, err)
	}
	if got, _ := rdb.HGet(ctx, ballot.OneShard(stream).PollKey(0, "p3"), ballot.PollState).Result(); got != "closed" {
		t.Errorf("p3 state %q, want PostgreSQL's later close", got)
	}
	tallies := make([]tally.Tally, len(all))
	for i, s := range all {
		tallies[i] = s.Tally
	}
	if err := c.WriteTallies(ctx, tallies); err != nil {
		t.Fatal(err)
	}
	if got, _ := rdb.HGet(ctx, ballot.OneShard(stream).PollKey(0, "p1"), ballot.PollState).Result(); got != "closed" {
		t.Errorf("p1 state %q, want the copy's closed kept", got)
	}
	h, err := rdb.HGetAll(ctx, ballot.OneShard(stream).PollKey(0, "p2")).Result()
	if err != nil {
		t.Fatal(err)
	}
	var rec poll.Record
	if err := json.Unmarshal([]byte(h[ballot.PollDef]), &rec); err != nil || rec.ID != "p2" || rec.TokenHash != poll.HashToken("x") || len(rec.Options) != 2 {
		t.Errorf("p2 def %s (err %v), want the record with its token hash", h[ballot.PollDef], err)
	}
	if h[ballot.PollState] != "closed" || h[ballot.PollTallyVersion] != "7" || h[ballot.PollTallyEpoch] != "e7" || h[ballot.PollTally] == "" {
		t.Errorf("p2 hash %v, want state closed and the tally at version 7 of epoch e7", h)
	}
}

// TestRestoreMovesLegacyCopies: a copy kept where versions before shards
// kept it moves to its key now, closed state included, and a copy already
// at its key now is not replaced.
func TestRestoreMovesLegacyCopies(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	shards := ballot.OneShard(stream)
	c := New(rdb, shards, 0)
	if err := rdb.HSet(ctx, ballot.LegacyPollKey(stream, "old1"), ballot.PollDef, `{"id":"old1"}`, ballot.PollState, "closed").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, ballot.LegacyPollKey(stream, "both"), ballot.PollDef, `{"id":"stale"}`, ballot.PollState, "open").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, shards.PollKey(0, "both"), ballot.PollDef, `{"id":"both"}`, ballot.PollState, "closed").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restore(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := rdb.HGetAll(ctx, shards.PollKey(0, "old1")).Result(); h[ballot.PollDef] != `{"id":"old1"}` || h[ballot.PollState] != "closed" {
		t.Errorf("old1 at its key now: %v, want the legacy copy", h)
	}
	if h, _ := rdb.HGetAll(ctx, shards.PollKey(0, "both")).Result(); h[ballot.PollDef] != `{"id":"both"}` || h[ballot.PollState] != "closed" {
		t.Errorf("both: %v, want the copy at its key now kept", h)
	}
	if n, _ := rdb.Exists(ctx, ballot.LegacyPollKey(stream, "old1"), ballot.LegacyPollKey(stream, "both")).Result(); n != 0 {
		t.Errorf("%d legacy copies left, want none", n)
	}
}

func TestDefinitions(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	c := New(rdb, ballot.OneShard(stream), 0)
	if err := rdb.HSet(ctx, ballot.OneShard(stream).PollKey(0, "p1"), ballot.PollDef, `{"id":"p1"}`, ballot.PollState, "open").Err(); err != nil {
		t.Fatal(err)
	}
	// A hash with no definition (a tally only) is no poll either.
	if err := rdb.HSet(ctx, ballot.OneShard(stream).PollKey(0, "p2"), ballot.PollTally, "{}").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Definitions(ctx, []string{"p1", "p2", "p3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"p1": `{"id":"p1"}`}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := c.Definitions(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no ids: got %v (err %v), want nothing", got, err)
	}
}

// BenchmarkWriteTallies650 writes the tallies of one batch over many polls
// (issue 7's bench touches ~650 polls per batch). Measured against
// EVALSHA (by digest) too: the same time, ~3.5 µs of Redis per tally, so
// the shorter EVAL path stays.
func BenchmarkWriteTallies650(b *testing.B) {
	rdb, stream := testredis.Client(b)
	ctx := context.Background()
	c := New(rdb, ballot.OneShard(stream), 0)
	ts := make([]tally.Tally, 650)
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	for i := range ts {
		id := fmt.Sprintf("p%d", i)
		if err := rdb.HSet(ctx, ballot.OneShard(stream).PollKey(0, id), ballot.PollDef, "{}", ballot.PollState, "open").Err(); err != nil {
			b.Fatal(err)
		}
		ts[i] = tally.New(id, 0, ids, map[string]int64{"a": 120, "c": 33}, "open", time.Unix(0, 0))
	}
	b.ReportAllocs()
	v := int64(0)
	for b.Loop() {
		v++
		for i := range ts {
			ts[i].Version = v
		}
		if err := c.WriteTallies(ctx, ts); err != nil {
			b.Fatal(err)
		}
	}
}

func fourShards(t *testing.T, stream string) ballot.Shards {
	t.Helper()
	s, err := ballot.NewShards(stream, 4)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSpreadStates: a close the worker applied reaches every shard's copy,
// and an older command spread late changes nothing.
func TestSpreadStates(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	shards := fourShards(t, stream)
	c := New(rdb, shards, 1)
	// The vote server set only the home shard (it died before the others).
	home := shards.HomeKey("p1")
	if err := rdb.HSet(ctx, home, ballot.PollDef, "{}", ballot.PollState, "closed", ballot.PollStateAt, "200-0").Err(); err != nil {
		t.Fatal(err)
	}
	for k := range shards.N() {
		if key := shards.PollKey(k, "p1"); key != home {
			rdb.HSet(ctx, key, ballot.PollDef, "{}", ballot.PollState, "open", ballot.PollStateAt, "100-0")
		}
	}
	if err := c.SpreadStates(ctx, []votedb.StateChange{{Poll: "p1", State: "closed", Seq: votedb.Seq{Ms: 200}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SpreadStates(ctx, []votedb.StateChange{{Poll: "p1", State: "open", Seq: votedb.Seq{Ms: 100}}}); err != nil {
		t.Fatal(err)
	}
	for k := range shards.N() {
		h, _ := rdb.HGetAll(ctx, shards.PollKey(k, "p1")).Result()
		if h[ballot.PollState] != "closed" || h[ballot.PollStateAt] != "200-0" || h[ballot.PollDef] != "{}" {
			t.Errorf("shard %d: %v, want closed at 200-0 with its definition", k, h)
		}
	}
	if err := New(rdb, ballot.OneShard(stream), 0).SpreadStates(ctx, []votedb.StateChange{{Poll: "p9", State: "closed"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, ballot.OneShard(stream).PollKey(0, "p9")).Result(); n != 0 {
		t.Error("one shard: SpreadStates wrote a copy; the command's own script does")
	}
}

// TestRestoreTakesTheHomeShardsLaterState: a shard that lost its copies
// gets the home shard's close when PostgreSQL has not applied it yet, and
// PostgreSQL's state when it is the later one.
func TestRestoreTakesTheHomeShardsLaterState(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	shards := fourShards(t, stream)
	var ids []string // polls whose home is not shard 2
	for i := 0; len(ids) < 2; i++ {
		if id := fmt.Sprintf("p%d", i); shards.Of(id) != 2 {
			ids = append(ids, id)
		}
	}
	rdb.HSet(ctx, shards.HomeKey(ids[0]), ballot.PollDef, "{}", ballot.PollState, "closed", ballot.PollStateAt, "500-0")
	rdb.HSet(ctx, shards.HomeKey(ids[1]), ballot.PollDef, "{}", ballot.PollState, "closed", ballot.PollStateAt, "500-0")
	stored := func(id, state, at string) votedb.Stored {
		p, err := poll.New(id, "Q", []string{"Red", "Blue"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.State = state
		return votedb.Stored{Record: poll.Record{Poll: p}, StateAt: at}
	}
	c := New(rdb, shards, 2)
	if _, err := c.Restore(ctx, []votedb.Stored{stored(ids[0], "open", "0-0"), stored(ids[1], "open", "600-0")}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"closed", "open"} {
		h, _ := rdb.HGetAll(ctx, shards.PollKey(2, ids[i])).Result()
		if h[ballot.PollState] != want || h[ballot.PollDef] == "" {
			t.Errorf("%s on shard 2: %v, want %s with its definition", ids[i], h, want)
		}
	}
}

// TestRestoreLeavesOtherKeysAlone: keys that match the old layout's
// pattern but are not poll copies (another program's, or not hashes) are
// neither moved nor deleted, and do not stop the restore.
func TestRestoreLeavesOtherKeysAlone(t *testing.T) {
	rdb, stream := testredis.Client(t)
	ctx := context.Background()
	notPolls := map[string]func(key string) error{
		ballot.LegacyPollKey(stream, "Not_An_ID"): func(key string) error { return rdb.HSet(ctx, key, "x", "1").Err() },
		ballot.LegacyPollKey(stream, "astring"):   func(key string) error { return rdb.Set(ctx, key, "1", 0).Err() },
		ballot.LegacyPollKey(stream, "astream"): func(key string) error {
			return rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"a", "b"}}).Err()
		},
	}
	for key, make := range notPolls {
		if err := make(key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(rdb, ballot.OneShard(stream), 0).Restore(ctx, nil); err != nil {
		t.Fatalf("restore stopped at a key that is not a poll copy: %v", err)
	}
	for key := range notPolls {
		if n, _ := rdb.Exists(ctx, key).Result(); n != 1 {
			t.Errorf("%s was removed", key)
		}
	}
}
