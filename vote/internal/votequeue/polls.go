package votequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// The answers of the vote script other than a stream id.
const (
	voteNoPoll = 0
	voteClosed = 1
)

// The answers of the state script.
const (
	stateNoPoll    = 0
	stateUnchanged = 1
	stateChanged   = 2
)

// The create and state scripts run on the poll's home shard and take
// KEYS[1] = the poll's copy there, KEYS[2] = that shard's stream; the vote
// script takes the stream first (see voteSrc). The field names are filled
// in from shared/ballot, the one place that names them, when the scripts
// are built.
const (
	// ARGV: poll id, Record JSON. Answers {1, stream id} when created, {0}
	// when the id is taken.
	createSrc = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local id = redis.call('XADD', KEYS[2], '*', '{op}', '{create}', '{poll}', ARGV[1], '{def}', ARGV[2])
redis.call('HSET', KEYS[1], '{def}', ARGV[2], '{state}', '{open}', '{at}', id)
return {1, id}`
	// The votes of a run of a batch, in one call: a script's fixed cost in
	// Redis (its call, its KEYS and ARGV tables) is several times that of
	// the HGET and XADD it makes, so it is paid once per run, not per vote.
	// KEYS: the stream, then vote i's poll copy at KEYS[i+1]. ARGV: poll id,
	// voter, option of each vote in turn. Answers one element per vote, in
	// order: its stream id, or 0 (no poll) or 1 (closed). The whole run is
	// one atomic step, so each check still sees the state its append lands in.
	// No "#!lua" line, on purpose: Redis 7 checks maxmemory at such a
	// script's first write and never after it, so a full Redis (noeviction)
	// refuses the run's first XADD, the call fails with OOM and nothing of
	// the run is written; once one XADD is in, the rest follow. A flagged
	// script would be all or nothing too, but refused before it runs even
	// when it would write nothing (a closed poll's 409 would become a 503).
	voteSrc = `
local out = {}
for i = 2, #KEYS do
  local a = (i - 2) * 3
  local s = redis.call('HGET', KEYS[i], '{state}')
  if not s then out[i - 1] = 0
  elseif s ~= '{open}' then out[i - 1] = 1
  else out[i - 1] = redis.call('XADD', KEYS[1], '*', '{poll}', ARGV[a + 1], '{voter}', ARGV[a + 2], '{vote}', ARGV[a + 3]) end
end
return out`
	// ARGV: poll id, new state, op. Answers {0} (no poll), {1, the stream id
	// of the command the state comes from} when already so, or {2, the new
	// command's stream id}.
	stateSrc = `
local cur = redis.call('HMGET', KEYS[1], '{state}', '{at}')
if not cur[1] then return {0} end
if cur[1] == ARGV[2] then return {1, cur[2] or '0-0'} end
local id = redis.call('XADD', KEYS[2], '*', '{op}', ARGV[3], '{poll}', ARGV[1])
redis.call('HSET', KEYS[1], '{state}', ARGV[2], '{at}', id)
return {2, id}`
)

type scripts struct {
	create, vote, state, sync, adopt *redis.Script
}

// newScripts builds the scripts; salt, a Lua comment, gives a test
// scripts that Redis has never seen.
func newScripts(salt string) scripts {
	r := strings.NewReplacer(
		"{def}", ballot.PollDef, "{state}", ballot.PollState, "{open}", poll.StateOpen,
		"{at}", ballot.PollStateAt,
		"{op}", ballot.FieldOp, "{create}", ballot.OpCreate, "{poll}", ballot.FieldPoll,
		"{voter}", ballot.FieldVoter, "{vote}", ballot.FieldVote,
	)
	return scripts{
		create: redis.NewScript(r.Replace(createSrc) + salt),
		vote:   redis.NewScript(r.Replace(voteSrc) + salt),
		state:  redis.NewScript(r.Replace(stateSrc) + salt),
		sync:   redis.NewScript(ballot.SyncCopySrc + salt),
		adopt:  redis.NewScript(ballot.MoveLegacyCopySrc + salt),
	}
}

// Create writes rec's copy (open) and appends its create entry on its
// home shard, in one step, then writes the copy on every other shard;
// ErrTaken when a poll with its id exists. Once it returns, a vote on any
// shard finds the poll.
func (q *Queue) Create(ctx context.Context, rec poll.Record) error {
	def, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("creating poll: %w", err)
	}
	v, err := q.run(ctx, q.scripts.create, q.keys(rec.ID), rec.ID, string(def))
	if err != nil {
		return fmt.Errorf("creating poll: %w", err)
	}
	n, id := answer(v)
	if n == 0 {
		return ErrTaken
	}
	if _, cluster := q.rdb.(*redis.ClusterClient); !cluster && q.shards.N() == 1 {
		// An id an old vote server took during a rolling upgrade is taken.
		if n, err := q.rdb.Exists(ctx, ballot.LegacyPollKey(q.shards.Prefix(), rec.ID)).Result(); err == nil && n > 0 {
			return ErrTaken
		}
	}
	if err := q.spread(ctx, rec.ID, string(def), poll.StateOpen, id); err != nil {
		return fmt.Errorf("creating poll: %w", err)
	}
	return nil
}

// SetState sets pollID's state (poll.StateOpen or poll.StateClosed) and
// appends the matching command on its home shard, in one step, then sets
// the state on every other shard. It reports whether the state changed:
// closing a closed poll appends nothing (but still brings every shard's
// copy to the home shard's state). ErrNoPoll when Redis holds no copy of
// the poll. Once it returns, no shard takes a vote the state refuses.
func (q *Queue) SetState(ctx context.Context, pollID, state string) (bool, error) {
	op := ballot.OpReopen
	if state == poll.StateClosed {
		op = ballot.OpClose
	}
	v, err := q.run(ctx, q.scripts.state, q.keys(pollID), pollID, state, op)
	if err != nil {
		return false, fmt.Errorf("setting poll state: %w", err)
	}
	n, at := answer(v)
	if n == stateNoPoll {
		if adopted, err := q.adoptLegacy(ctx, pollID); err != nil || !adopted {
			if err != nil {
				return false, fmt.Errorf("setting poll state: %w", err)
			}
			return false, ErrNoPoll
		}
		return q.SetState(ctx, pollID, state)
	}
	if err := q.spread(ctx, pollID, "", state, at); err != nil {
		return false, fmt.Errorf("setting poll state: %w", err)
	}
	return n == stateChanged, nil
}

// spread writes a poll's definition (unless def is "") and its state, from
// the home shard's command at, into its copy on every other shard, all at
// once. A vote on a shard not reached yet is still taken: it was accepted
// before the command was acknowledged. A shard missed here (an error, or
// this server's death) is brought up to date by the worker when it applies
// the command, and by the next vote there that finds no copy.
func (q *Queue) spread(ctx context.Context, pollID, def, state, at string) error {
	home := q.shards.Of(pollID)
	errs := make([]error, q.shards.N())
	var wg sync.WaitGroup
	for k := range q.shards.N() {
		if k == home {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.run(ctx, q.scripts.sync, []string{q.shards.PollKey(k, pollID)}, def, state, at, "0"); err != nil {
				errs[k] = fmt.Errorf("shard %d: %w", k, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// answer reads a create or state script's answer: its code and the stream
// id that comes with it.
func answer(v []any) (int64, string) {
	var n int64
	var id string
	if len(v) > 0 {
		n, _ = v[0].(int64)
	}
	if len(v) > 1 {
		id, _ = v[1].(string)
	}
	return n, id
}

// run runs script and reads its answer (a list, or a whole number as a
// list of one). With replicas to wait for, the script and a WAIT after it
// go in one pipeline, on one connection to the primary of keys[0]; too few
// replicas is ErrNotReplicated, even for an answer that wrote nothing (the
// caller is told "not now", never "done" early).
func (q *Queue) run(ctx context.Context, script *redis.Script, keys []string, args ...any) ([]any, error) {
	read := func(cmd *redis.Cmd) ([]any, error) {
		v, err := cmd.Result()
		if err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case []any:
			return v, nil
		case int64:
			return []any{v}, nil
		}
		return nil, fmt.Errorf("script answered %T", v)
	}
	if q.wait.Replicas <= 0 {
		return read(script.Run(ctx, q.rdb, keys, args...))
	}
	exec := func(eval bool) (*redis.Cmd, error) {
		pipe, err := q.pipeline(keys[0])
		if err != nil {
			return nil, err
		}
		var cmd *redis.Cmd
		if eval {
			cmd = script.Eval(ctx, pipe, keys, args...)
		} else {
			cmd = script.EvalSha(ctx, pipe, keys, args...)
		}
		w := q.waitCmd(pipe)
		_, err = pipe.Exec(ctx)
		q.moved(err)
		return cmd, q.waited(w)
	}
	cmd, waited := exec(false)
	if cmd != nil && redis.HasErrorPrefix(cmd.Err(), "MOVED") && q.follow(keys[0], cmd.Err()) {
		// Sent to a primary that failed over: nothing was written.
		cmd, waited = exec(false)
	}
	if cmd != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd, waited = exec(true)
	}
	if cmd == nil {
		return nil, waited
	}
	v, err := read(cmd)
	if err != nil {
		return nil, err
	}
	return v, waited
}

// Copy is what Redis holds of a poll: its definition, its state and the
// last tally the worker committed (JSON, nil before the first).
type Copy struct {
	Record poll.Record
	State  string
	Tally  []byte
}

// Load reads pollID's copy on its home shard, which holds its tally;
// ErrNoPoll when there is none. The default poll
// has no definition in Redis: its Record is left empty and its state open,
// with the tally the worker may have kept for it.
func (q *Queue) Load(ctx context.Context, pollID string) (Copy, error) {
	vals, err := q.rdb.HMGet(ctx, q.shards.HomeKey(pollID), ballot.PollDef, ballot.PollState, ballot.PollTally).Result()
	if err != nil {
		return Copy{}, fmt.Errorf("reading poll: %w", err)
	}
	var c Copy
	if t, ok := vals[2].(string); ok && t != "" {
		c.Tally = []byte(t)
	}
	if pollID == poll.DefaultID {
		c.State = poll.StateOpen
		return c, nil
	}
	def, ok := vals[0].(string)
	if !ok {
		if adopted, err := q.adoptLegacy(ctx, pollID); err != nil || !adopted {
			if err != nil {
				return Copy{}, fmt.Errorf("reading poll: %w", err)
			}
			return Copy{}, ErrNoPoll
		}
		return q.Load(ctx, pollID)
	}
	if err := json.Unmarshal([]byte(def), &c.Record); err != nil {
		return Copy{}, fmt.Errorf("reading poll %s: %w", pollID, err)
	}
	if c.State, _ = vals[1].(string); c.State == "" {
		// Only a copy half written by hand lacks its state; without it the
		// vote script refuses votes, so the poll is shown as they see it.
		c.State = poll.StateClosed
	}
	c.Record.State = c.State
	return c, nil
}

// keys are a create or state script's keys: pollID's copy on its home
// shard and that shard's stream.
func (q *Queue) keys(pollID string) []string {
	home := q.shards.Of(pollID)
	return []string{q.shards.PollKey(home, pollID), q.shards.Key(home)}
}
