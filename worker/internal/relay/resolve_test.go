package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"livevote/shared/ballot"
	"livevote/shared/poll"
	"livevote/worker/internal/pollcopy"
	"livevote/worker/internal/votedb"
)

// TestRelayCreatesPollFromCopy: a batch holds a poll's votes and close
// while its create is elsewhere (another worker's batch, or a dead one's);
// the poll is created from its copy, the votes counted, the close applied,
// and the create entry arriving later changes nothing.
func TestRelayCreatesPollFromCopy(t *testing.T) {
	f := newFixture(t)
	def := f.writeCopy("late", "Red", "Blue")
	f.vote("late", voterID(1), "a")
	f.vote("late", voterID(2), "b")
	f.vote("late", voterID(3), "b")
	f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, "late")
	stop := f.start(f.store)
	defer stop()
	f.waitDrained()
	closed := f.wantCounts("late", map[string]int64{"a": 1, "b": 2})
	if closed.State != poll.StateClosed {
		t.Errorf("got state %s, want %s", closed.State, poll.StateClosed)
	}
	if got := f.pub.last()["late"]; got.Version != closed.Version || got.State != poll.StateClosed {
		t.Errorf("published %+v, want the committed %+v", got, closed)
	}
	if c, ok := f.copyTally("late"); !ok || c.Version != closed.Version {
		t.Errorf("copy holds %+v, want version %d", c, closed.Version)
	}
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 0 {
		t.Errorf("invalid metric %v, want 0", got)
	}

	published := len(f.pub.all())
	f.createEntry("late", def)
	f.waitDrained()
	again := f.wantCounts("late", map[string]int64{"a": 1, "b": 2})
	if again.Version != closed.Version || again.State != poll.StateClosed {
		t.Errorf("after the create entry: %s at version %d, want %s at %d",
			again.State, again.Version, closed.State, closed.Version)
	}
	if got := f.pub.all()[published:]; len(got) != 0 {
		t.Errorf("the late create published %+v, want nothing", got)
	}
}

// TestRelayDropsEntriesOfPollNobodyHas: an entry whose poll is neither in
// PostgreSQL nor in the copy is invalid, and the rest of its batch goes on.
func TestRelayDropsEntriesOfPollNobodyHas(t *testing.T) {
	f := newFixture(t)
	f.writeCopy("real", "Red", "Blue")
	f.vote("ghost", voterID(1), "a")
	f.xadd(ballot.FieldOp, ballot.OpReopen, ballot.FieldPoll, "ghost")
	f.vote("real", voterID(1), "b")
	f.run()
	f.wantCounts("real", map[string]int64{"b": 1})
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 2 {
		t.Errorf("invalid metric %v, want 2", got)
	}
	if m, err := f.store.Tallies(context.Background(), []string{"ghost"}); err != nil || len(m) != 0 {
		t.Errorf("poll ghost: %v (err %v), want none", m, err)
	}
}

// flakyCopy fails its first fails reads of definitions, as a Redis that
// hiccups.
type flakyCopy struct {
	PollCopy
	mu    sync.Mutex
	fails int
}

func (c *flakyCopy) Definitions(ctx context.Context, ids []string) (map[string]string, error) {
	c.mu.Lock()
	if c.fails > 0 {
		c.fails--
		c.mu.Unlock()
		return nil, fmt.Errorf("connection reset")
	}
	c.mu.Unlock()
	return c.PollCopy.Definitions(ctx, ids)
}

// TestRelayRetriesReadingCopy: a vote is never dropped because Redis
// failed while its poll's definition was read.
func TestRelayRetriesReadingCopy(t *testing.T) {
	f := newFixture(t)
	f.writeCopy("late", "Red", "Blue")
	f.vote("late", voterID(1), "b")
	pc := &flakyCopy{PollCopy: pollcopy.New(f.rdb, ballot.OneShard(f.stream), 0), fails: 3}
	stop := f.startRelay(f.relayAs("test", f.store, pc, 100, 0))
	defer stop()
	f.waitDrained()
	f.wantCounts("late", map[string]int64{"b": 1})
	if got := testutil.ToFloat64(f.metrics.RedisErrors); got != 3 {
		t.Errorf("redis errors metric %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 0 {
		t.Errorf("invalid metric %v, want 0", got)
	}
}

// TestRelaysShareStream: two relays take turns at small batches of a
// stream where creates, votes and closes interleave, so one often holds a
// poll's votes while the other holds its create; every vote is counted.
func TestRelaysShareStream(t *testing.T) {
	f := newFixture(t)
	const polls, voters = 12, 8
	want := map[string]map[string]int64{}
	var order []string
	for i := range polls {
		id := fmt.Sprintf("pp%02d", i)
		want[id] = map[string]int64{}
		for range voters {
			order = append(order, id)
		}
	}
	// Votes of all polls shuffled together, each poll's create right before
	// its first vote.
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	next := map[string]int{}
	for _, id := range order {
		if next[id] == 0 {
			f.create(id, "Red", "Blue", "Green")
		}
		option := poll.OptionID(next[id] % 3)
		f.vote(id, voterID(next[id]), option)
		want[id][option]++
		next[id]++
	}
	for id := range want {
		f.xadd(ballot.FieldOp, ballot.OpClose, ballot.FieldPoll, id)
	}
	for _, name := range []string{"one", "two"} {
		defer f.startRelay(f.relayAs(name, f.store, pollcopy.New(f.rdb, ballot.OneShard(f.stream), 0), 3, 0))()
	}
	f.waitDrained()
	for id, w := range want {
		if cur := f.wantCounts(id, w); cur.State != poll.StateClosed {
			t.Errorf("poll %s: state %s, want %s", id, cur.State, poll.StateClosed)
		}
	}
	if got := testutil.ToFloat64(f.metrics.Invalid); got != 0 {
		t.Errorf("invalid metric %v, want 0", got)
	}
}

func TestUnknownPolls(t *testing.T) {
	known := knownPolls{}
	known.add("old")
	rec := func(id string) poll.Record { return poll.Record{Poll: poll.Poll{ID: id}} }
	tests := []struct {
		name string
		b    votedb.Batch
		want []string
	}{
		{"empty", votedb.Batch{}, nil},
		{"default and known", votedb.Batch{
			Votes: []votedb.Vote{{Poll: poll.DefaultID}, {Poll: "old"}},
		}, nil},
		{"created in the batch", votedb.Batch{
			Creates: []poll.Record{rec("new")},
			Votes:   []votedb.Vote{{Poll: "new"}},
			States:  []votedb.StateChange{{Poll: "new"}},
		}, nil},
		{"votes and states, once each, sorted", votedb.Batch{
			Creates: []poll.Record{rec("new")},
			Votes:   []votedb.Vote{{Poll: "zz"}, {Poll: "zz"}, {Poll: "aa"}, {Poll: "zz"}, {Poll: "old"}},
			States:  []votedb.StateChange{{Poll: "mm"}, {Poll: "aa"}, {Poll: "new"}},
		}, []string{"aa", "mm", "zz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := known.unknownPolls(tt.b); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKnownPollsBounded(t *testing.T) {
	known := knownPolls{}
	for i := range maxKnown + 10 {
		known.add(fmt.Sprint(i))
	}
	if len(known) > maxKnown {
		t.Errorf("holds %d polls, want at most %d", len(known), maxKnown)
	}
	if _, ok := known[fmt.Sprint(maxKnown+9)]; !ok {
		t.Error("the poll added last is not known")
	}
}
