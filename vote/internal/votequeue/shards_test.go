package votequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

func fourShards(t *testing.T, rdb *redis.Client) ballot.Shards {
	t.Helper()
	s, err := ballot.NewShards(testStream(t, rdb), 4)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shardedPoll is a queue over four shards of the test Redis (closed when
// the test ends) and a poll created through it.
func shardedPoll(t *testing.T) (*redis.Client, ballot.Shards, *Queue, poll.Record) {
	t.Helper()
	rdb := testClient(t)
	shards := fourShards(t, rdb)
	q := New(rdb, shards)
	t.Cleanup(q.Close)
	rec := newPoll(t, "Red", "Green")
	if err := q.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rdb, shards, q, rec
}

// TestShardedVotesStayWithTheirVoter spreads many voters' votes over four
// shards: each vote lands on its voter's shard, every shard gets some, and
// each voter's votes keep their order there.
func TestShardedVotesStayWithTheirVoter(t *testing.T) {
	rdb, shards, q, rec := shardedPoll(t)
	ctx := context.Background()
	const voters, each = 64, 5
	var wg sync.WaitGroup
	for v := range voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := poll.DefaultID
				if i%2 == 1 {
					p = rec.ID
				}
				if _, err := q.Append(ctx, p, fmt.Sprintf("voter%d", v), fmt.Sprintf("o%d", i)); err != nil {
					t.Errorf("voter %d vote %d: %v", v, i, err)
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for k, key := range shards.Keys() {
		msgs, err := rdb.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]int{}
		votes := 0
		for _, m := range msgs {
			voter, ok := m.Values[ballot.FieldVoter].(string)
			if !ok {
				continue // the poll's create, on its home shard
			}
			votes++
			if got := shards.Of(voter); got != k {
				t.Errorf("%s's vote is on shard %d, its shard is %d", voter, k, got)
			}
			var n int
			fmt.Sscanf(m.Values[ballot.FieldVote].(string), "o%d", &n)
			if prev, seen := last[voter]; seen && n <= prev {
				t.Errorf("shard %d: %s's vote o%d comes after o%d", k, voter, n, prev)
			}
			last[voter] = n
		}
		if votes == 0 {
			t.Errorf("shard %d got no vote of %d voters", k, voters)
		}
		total += votes
	}
	if total != voters*each {
		t.Errorf("the shards hold %d votes, want %d", total, voters*each)
	}
}

// TestShardedPollCommandsReachEveryShard: a create puts the poll on every
// shard and its command on the home shard only; a close is refused on
// every shard once acknowledged; a reopen opens every shard again.
func TestShardedPollCommandsReachEveryShard(t *testing.T) {
	rdb, shards, q, rec := shardedPoll(t)
	ctx := context.Background()
	home := shards.Of(rec.ID)
	for k := range shards.N() {
		h, err := rdb.HGetAll(ctx, shards.PollKey(k, rec.ID)).Result()
		if err != nil || h[ballot.PollDef] == "" || h[ballot.PollState] != poll.StateOpen || h[ballot.PollStateAt] == "" {
			t.Errorf("shard %d's copy after the create: %v, %v", k, h, err)
		}
		n, _ := rdb.XLen(ctx, shards.Key(k)).Result()
		if want := map[bool]int64{true: 1, false: 0}[k == home]; n != want {
			t.Errorf("shard %d holds %d entries after the create, want %d (the create on home shard %d only)", k, n, want, home)
		}
	}
	// Voters on every shard.
	voterOn := make([]string, shards.N())
	for i, found := 0, 0; found < shards.N(); i++ {
		v := fmt.Sprintf("voter%d", i)
		if voterOn[shards.Of(v)] == "" {
			voterOn[shards.Of(v)] = v
			found++
		}
	}
	if changed, err := q.SetState(ctx, rec.ID, poll.StateClosed); err != nil || !changed {
		t.Fatalf("close: %v, %v", changed, err)
	}
	for k, v := range voterOn {
		if _, err := q.Append(ctx, rec.ID, v, "a"); !errors.Is(err, ErrPollClosed) {
			t.Errorf("a vote on shard %d after the close: %v, want ErrPollClosed", k, err)
		}
	}
	if changed, err := q.SetState(ctx, rec.ID, poll.StateOpen); err != nil || !changed {
		t.Fatalf("reopen: %v, %v", changed, err)
	}
	for k, v := range voterOn {
		if _, err := q.Append(ctx, rec.ID, v, "a"); err != nil {
			t.Errorf("a vote on shard %d after the reopen: %v", k, err)
		}
	}
	if cp, err := q.Load(ctx, rec.ID); err != nil || cp.State != poll.StateOpen || cp.Record.ID != rec.ID {
		t.Errorf("Load after the reopen: %+v, %v", cp, err)
	}
}

// TestShardedStatesConverge closes and reopens one poll from many
// goroutines at once: every shard's copy ends in the home shard's state.
func TestShardedStatesConverge(t *testing.T) {
	rdb, shards, q, rec := shardedPoll(t)
	ctx := context.Background()
	for round := range 20 {
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				state := poll.StateOpen
				if i%2 == 0 {
					state = poll.StateClosed
				}
				if _, err := q.SetState(ctx, rec.ID, state); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		homeState, err := rdb.HGet(ctx, shards.HomeKey(rec.ID), ballot.PollState).Result()
		if err != nil {
			t.Fatal(err)
		}
		for k := range shards.N() {
			if s, _ := rdb.HGet(ctx, shards.PollKey(k, rec.ID), ballot.PollState).Result(); s != homeState {
				t.Fatalf("round %d: shard %d is %s, the home shard %s", round, k, s, homeState)
			}
		}
	}
}

// TestSyncCopyKeepsTheLatestState runs the script that spreads a state:
// an older command never replaces a newer one, a missing copy gets the
// state alone, and a restore leaves a state of unknown age alone.
func TestSyncCopyKeepsTheLatestState(t *testing.T) {
	rdb := testClient(t)
	key := testStream(t, rdb) + ":copy"
	s := newScripts("").sync
	ctx := context.Background()
	run := func(def, state, at, restore string) {
		t.Helper()
		if err := s.Run(ctx, rdb, []string{key}, def, state, at, restore).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := func(state, at string) {
		t.Helper()
		h, _ := rdb.HGetAll(ctx, key).Result()
		if h[ballot.PollState] != state || h[ballot.PollStateAt] != at {
			t.Fatalf("copy %v, want state %s at %s", h, state, at)
		}
	}
	run("", poll.StateClosed, "1700000000000-5", "0")
	want(poll.StateClosed, "1700000000000-5")
	run("", poll.StateOpen, "1700000000000-4", "0") // older
	want(poll.StateClosed, "1700000000000-5")
	run("", poll.StateOpen, "1700000000000-12", "0") // same ms, later sequence
	want(poll.StateOpen, "1700000000000-12")
	run("", poll.StateClosed, "999999999999-0", "0") // fewer digits, older
	want(poll.StateOpen, "1700000000000-12")
	run(`{"id":"x"}`, poll.StateClosed, "1800000000000-0", "0")
	want(poll.StateClosed, "1800000000000-0")
	run(`{"id":"y"}`, poll.StateClosed, "1800000000000-0", "0")
	if def, _ := rdb.HGet(ctx, key, ballot.PollDef).Result(); def != `{"id":"x"}` {
		t.Errorf("definition %s, want the first one kept", def)
	}
	rdb.HDel(ctx, key, ballot.PollStateAt)
	run("", poll.StateOpen, "1900000000000-0", "1")
	if s, _ := rdb.HGet(ctx, key, ballot.PollState).Result(); s != poll.StateClosed {
		t.Errorf("a restore replaced a state of unknown age: %s", s)
	}
}

// TestShardedVoteHealsAMissingCopy: a shard that lost a poll's copy (a
// vote server died between the shards of a create) takes the vote once
// the copy is brought over from the home shard.
func TestShardedVoteHealsAMissingCopy(t *testing.T) {
	rdb, shards, q, rec := shardedPoll(t)
	ctx := context.Background()
	home := shards.Of(rec.ID)
	voter := ""
	for i := 0; voter == ""; i++ {
		if v := fmt.Sprintf("voter%d", i); shards.Of(v) != home {
			voter = v
		}
	}
	k := shards.Of(voter)
	if err := rdb.Del(ctx, shards.PollKey(k, rec.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Append(ctx, rec.ID, voter, "a"); err != nil {
		t.Fatalf("vote on shard %d, whose copy was lost: %v", k, err)
	}
	if s, _ := rdb.HGet(ctx, shards.PollKey(k, rec.ID), ballot.PollState).Result(); s != poll.StateOpen {
		t.Errorf("shard %d's copy after the vote: state %q, want open", k, s)
	}
	if _, err := q.Append(ctx, "nosuchpoll", voter, "a"); !errors.Is(err, ErrNoPoll) {
		t.Errorf("a vote in no poll: %v, want ErrNoPoll", err)
	}
}

// BenchmarkAppendShards appends from many goroutines and many voters over
// 1 and 4 shards of one Redis: what splitting costs or gains before a
// Redis Cluster spreads the shards over primaries.
func BenchmarkAppendShards(b *testing.B) {
	voters := make([]string, 4096)
	for i := range voters {
		voters[i] = fmt.Sprintf("voter%016d", i)
	}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			rdb := testClient(b)
			shards, err := ballot.NewShards(testStream(b, rdb), n)
			if err != nil {
				b.Fatal(err)
			}
			q := New(rdb, shards)
			defer q.Close()
			var next atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					v := voters[next.Add(1)%int64(len(voters))]
					if _, err := q.Append(context.Background(), poll.DefaultID, v, "a"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestLegacyCopyAdopted: a poll an old vote server created during a
// rolling upgrade (its copy where versions before shards kept it) is
// found, voted in and closed, and its id stays taken.
func TestLegacyCopyAdopted(t *testing.T) {
	rdb := testClient(t)
	stream := testStream(t, rdb)
	q := New(rdb, ballot.OneShard(stream))
	defer q.Close()
	ctx := context.Background()
	legacy := func(rec poll.Record) {
		t.Helper()
		def, _ := json.Marshal(rec)
		if err := rdb.HSet(ctx, ballot.LegacyPollKey(stream, rec.ID), ballot.PollDef, def, ballot.PollState, poll.StateOpen).Err(); err != nil {
			t.Fatal(err)
		}
	}
	voted, loaded, closed, taken := newPoll(t, "A", "B"), newPoll(t, "A", "B"), newPoll(t, "A", "B"), newPoll(t, "A", "B")
	for _, rec := range []poll.Record{voted, loaded, closed, taken} {
		legacy(rec)
	}
	if _, err := q.Append(ctx, voted.ID, "v1", "a"); err != nil {
		t.Errorf("a vote in a poll of the old layout: %v", err)
	}
	if cp, err := q.Load(ctx, loaded.ID); err != nil || cp.Record.ID != loaded.ID || cp.State != poll.StateOpen {
		t.Errorf("Load of a poll of the old layout: %+v, %v", cp, err)
	}
	if changed, err := q.SetState(ctx, closed.ID, poll.StateClosed); err != nil || !changed {
		t.Errorf("closing a poll of the old layout: %v, %v", changed, err)
	}
	if err := q.Create(ctx, taken); !errors.Is(err, ErrTaken) {
		t.Errorf("creating an id the old layout holds: %v, want ErrTaken", err)
	}
	for _, rec := range []poll.Record{voted, loaded, closed} {
		if n, _ := rdb.Exists(ctx, ballot.LegacyPollKey(stream, rec.ID)).Result(); n != 0 {
			t.Errorf("%s: the old key is still there", rec.ID)
		}
	}
	if _, err := q.Append(ctx, "nosuchpoll", "v1", "a"); !errors.Is(err, ErrNoPoll) {
		t.Errorf("a vote in no poll: %v, want ErrNoPoll", err)
	}
}
