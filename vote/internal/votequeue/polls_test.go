package votequeue

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

func newPoll(t *testing.T, labels ...string) poll.Record {
	t.Helper()
	p, err := poll.New(poll.NewID(), "Which one?", labels, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return poll.Record{Poll: p, TokenHash: poll.HashToken("token")}
}

// entries returns the stream's entries as field maps, in order.
func entries(t *testing.T, rdb *redis.Client, stream string) []map[string]any {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		out[i] = m.Values
	}
	return out
}

func TestCreateVoteCloseReopen(t *testing.T) {
	rdb := testClient(t)
	stream := testStream(t, rdb)
	q := New(rdb, ballot.OneShard(stream))
	defer q.Close()
	ctx := context.Background()
	rec := newPoll(t, "Red", "Green", "Blue")

	if err := q.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := q.Create(ctx, rec); !errors.Is(err, ErrTaken) {
		t.Errorf("second create: got %v, want ErrTaken", err)
	}
	cp, err := q.Load(ctx, rec.ID)
	if err != nil || cp.State != poll.StateOpen || cp.Record.Question != rec.Question || cp.Record.TokenHash != rec.TokenHash || len(cp.Record.Options) != 3 {
		t.Fatalf("Load = %+v, %v; want the open poll as created", cp, err)
	}
	if _, err := q.Append(ctx, rec.ID, "voter1", "c"); err != nil {
		t.Fatalf("vote in open poll: %v", err)
	}
	for _, step := range []struct {
		state       string
		wantChanged bool
	}{{poll.StateClosed, true}, {poll.StateClosed, false}} {
		if changed, err := q.SetState(ctx, rec.ID, step.state); err != nil || changed != step.wantChanged {
			t.Errorf("SetState(%s) = %v, %v; want %v", step.state, changed, err, step.wantChanged)
		}
	}
	if _, err := q.Append(ctx, rec.ID, "voter2", "a"); !errors.Is(err, ErrPollClosed) {
		t.Errorf("vote in closed poll: got %v, want ErrPollClosed", err)
	}
	if cp, _ := q.Load(ctx, rec.ID); cp.State != poll.StateClosed || cp.Record.State != poll.StateClosed {
		t.Errorf("state after close %q, want closed", cp.State)
	}
	if changed, err := q.SetState(ctx, rec.ID, poll.StateOpen); err != nil || !changed {
		t.Errorf("reopen = %v, %v; want changed", changed, err)
	}
	if _, err := q.Append(ctx, rec.ID, "voter2", "b"); err != nil {
		t.Errorf("vote after reopen: %v", err)
	}

	got := entries(t, rdb, stream)
	want := []map[string]any{
		{ballot.FieldOp: ballot.OpCreate, ballot.FieldPoll: rec.ID},
		{ballot.FieldPoll: rec.ID, ballot.FieldVoter: "voter1", ballot.FieldVote: "c"},
		{ballot.FieldOp: ballot.OpClose, ballot.FieldPoll: rec.ID},
		{ballot.FieldOp: ballot.OpReopen, ballot.FieldPoll: rec.ID},
		{ballot.FieldPoll: rec.ID, ballot.FieldVoter: "voter2", ballot.FieldVote: "b"},
	}
	if len(got) != len(want) {
		t.Fatalf("stream holds %d entries %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("entry %d: %s = %v, want %v (entry %v)", i, k, got[i][k], v, got[i])
			}
		}
	}
	if def, _ := got[0][ballot.FieldDef].(string); def == "" {
		t.Error("create entry has no def")
	}
}

func TestUnknownPoll(t *testing.T) {
	rdb := testClient(t)
	q := New(rdb, ballot.OneShard(testStream(t, rdb)))
	defer q.Close()
	ctx := context.Background()
	if _, err := q.Append(ctx, "nope", "voter", "a"); !errors.Is(err, ErrNoPoll) {
		t.Errorf("Append: got %v, want ErrNoPoll", err)
	}
	if _, err := q.SetState(ctx, "nope", poll.StateClosed); !errors.Is(err, ErrNoPoll) {
		t.Errorf("SetState: got %v, want ErrNoPoll", err)
	}
	if _, err := q.Load(ctx, "nope"); !errors.Is(err, ErrNoPoll) {
		t.Errorf("Load: got %v, want ErrNoPoll", err)
	}
	if cp, err := q.Load(ctx, poll.DefaultID); err != nil || cp.State != poll.StateOpen {
		t.Errorf("Load(default) = %+v, %v; want open", cp, err)
	}
}

// TestVotesInTwoPollsNeverMix: each vote lands with its own poll's id, and
// the default poll's votes carry poll=default.
func TestVotesInTwoPollsNeverMix(t *testing.T) {
	rdb := testClient(t)
	stream := testStream(t, rdb)
	q := New(rdb, ballot.OneShard(stream))
	defer q.Close()
	ctx := context.Background()
	p1, p2 := newPoll(t, "A1", "B1"), newPoll(t, "A2", "B2", "C2")
	for _, p := range []poll.Record{p1, p2} {
		if err := q.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []struct{ poll, option string }{{p1.ID, "a"}, {p2.ID, "c"}, {poll.DefaultID, "b"}, {p1.ID, "b"}} {
		if _, err := q.Append(ctx, v.poll, "voter", v.option); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range entries(t, rdb, stream) {
		if e[ballot.FieldOp] == nil {
			got = append(got, e[ballot.FieldPoll].(string)+":"+e[ballot.FieldVote].(string))
		}
	}
	want := []string{p1.ID + ":a", p2.ID + ":c", "default:b", p1.ID + ":b"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vote %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// TestScriptUnknownToRedis: a vote script Redis has never loaded (as after
// a restart) is answered NOSCRIPT in the pipeline, then sent again with its
// body, and the vote lands.
func TestScriptUnknownToRedis(t *testing.T) {
	rdb := testClient(t)
	stream := testStream(t, rdb)
	q := New(rdb, ballot.OneShard(stream))
	defer q.Close()
	q.scripts = newScripts("\n-- " + rand.Text())
	ctx := context.Background()
	rec := newPoll(t, "Yes", "No")
	if err := q.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if exists, _ := rdb.ScriptExists(ctx, q.scripts.vote.Hash()).Result(); len(exists) != 1 || exists[0] {
		t.Fatalf("the salted vote script is already loaded: %v", exists)
	}
	if _, err := q.Append(ctx, rec.ID, "voter", "b"); err != nil {
		t.Fatalf("Append with an unknown script: %v", err)
	}
	if n, _ := rdb.XLen(ctx, stream).Result(); n != 2 {
		t.Errorf("stream holds %d entries, want 2 (create, vote)", n)
	}
}

// TestMixedBatch sends one batch of votes in open, closed and unknown polls
// and the default poll, as the senders do: each vote gets its own answer,
// and the stream holds the accepted ones in the batch's order, whether the
// script went by digest or with its body.
func TestMixedBatch(t *testing.T) {
	for _, eval := range []bool{true, false} {
		t.Run(map[bool]string{true: "eval", false: "evalsha"}[eval], func(t *testing.T) {
			rdb := testClient(t)
			stream := testStream(t, rdb)
			q := New(rdb, ballot.OneShard(stream))
			defer q.Close()
			ctx := context.Background()
			open, shut := newPoll(t, "Yes", "No"), newPoll(t, "Yes", "No")
			for _, rec := range []poll.Record{open, shut} {
				if err := q.Create(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.SetState(ctx, shut.ID, poll.StateClosed); err != nil {
				t.Fatal(err)
			}
			if !eval {
				if err := q.scripts.vote.Load(ctx, rdb).Err(); err != nil {
					t.Fatal(err)
				}
			}
			gone, cancel := context.WithCancel(ctx)
			cancel()
			votes := []struct {
				ctx                 context.Context
				poll, voter, option string
				want                error
			}{
				{ctx, open.ID, "v1", "a", nil},
				{ctx, shut.ID, "v2", "a", ErrPollClosed},
				{ctx, poll.DefaultID, "v3", "b", nil},
				{ctx, open.ID, "v4", "b", nil},
				{gone, open.ID, "v5", "a", context.Canceled},
				{ctx, "nosuchpoll", "v6", "a", ErrNoPoll},
				{ctx, open.ID, "v7", "a", nil},
			}
			batch := make([]*pending, len(votes))
			for i, v := range votes {
				batch[i] = &pending{ctx: v.ctx, poll: v.poll, voter: v.voter, option: v.option}
			}
			pipe := rdb.Pipeline()
			slots := q.queue(pipe, 0, batch, nil, eval)
			_, _ = pipe.Exec(ctx)
			if len(slots) != len(votes) {
				t.Fatalf("got %d slots, want %d", len(slots), len(votes))
			}
			var wantVoters []string
			for i, v := range votes {
				if slots[i].cmd == nil {
					if v.want != context.Canceled {
						t.Errorf("vote %d: got no command, want one", i)
					}
					continue
				}
				id, err := slots[i].result()
				if !errors.Is(err, v.want) {
					t.Errorf("vote %d (%s): got %q, %v, want %v", i, v.voter, id, err, v.want)
				}
				if v.want == nil {
					wantVoters = append(wantVoters, v.voter)
				}
			}
			var got []string
			for _, e := range entries(t, rdb, stream) {
				if v, ok := e[ballot.FieldVoter].(string); ok {
					got = append(got, v)
				}
			}
			if len(got) != len(wantVoters) {
				t.Fatalf("stream voters: got %v, want %v", got, wantVoters)
			}
			for i := range got {
				if got[i] != wantVoters[i] {
					t.Errorf("stream voter %d: got %s, want %s", i, got[i], wantVoters[i])
				}
			}
		})
	}
}

// BenchmarkAppendPollParallel is BenchmarkAppendParallel over 1,000 open
// polls: every vote goes through the vote script.
func BenchmarkAppendPollParallel(b *testing.B) {
	rdb := testClient(b)
	q := New(rdb, ballot.OneShard(testStream(b, rdb)))
	defer q.Close()
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		p, err := poll.New(poll.NewID(), "Which one?", []string{"Yes", "No"}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Create(ctx, poll.Record{Poll: p}); err != nil {
			b.Fatal(err)
		}
		ids[i] = p.ID
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)%int64(len(ids))]
			if _, err := q.Append(ctx, id, "voter0000000000000000", "a"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
