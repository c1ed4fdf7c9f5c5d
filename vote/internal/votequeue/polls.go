package votequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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

// The create and state scripts take KEYS[1] = the poll's copy, KEYS[2] =
// the stream; the vote script takes the stream first (see voteSrc). The
// field names are filled in from shared/ballot, the one place that names
// them, when the scripts are built.
const (
	// ARGV: poll id, Record JSON. Answers 1 when created, 0 when the id is taken.
	createSrc = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], '{def}', ARGV[2], '{state}', '{open}')
redis.call('XADD', KEYS[2], '*', '{op}', '{create}', '{poll}', ARGV[1], '{def}', ARGV[2])
return 1`
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
	// ARGV: poll id, new state, op. Answers 0 (no poll), 1 (already so) or 2.
	stateSrc = `
local s = redis.call('HGET', KEYS[1], '{state}')
if not s then return 0 end
if s == ARGV[2] then return 1 end
redis.call('HSET', KEYS[1], '{state}', ARGV[2])
redis.call('XADD', KEYS[2], '*', '{op}', ARGV[3], '{poll}', ARGV[1])
return 2`
)

type scripts struct {
	create, vote, state *redis.Script
}

// newScripts builds the scripts; salt, a Lua comment, gives a test
// scripts that Redis has never seen.
func newScripts(salt string) scripts {
	r := strings.NewReplacer(
		"{def}", ballot.PollDef, "{state}", ballot.PollState, "{open}", poll.StateOpen,
		"{op}", ballot.FieldOp, "{create}", ballot.OpCreate, "{poll}", ballot.FieldPoll,
		"{voter}", ballot.FieldVoter, "{vote}", ballot.FieldVote,
	)
	return scripts{
		create: redis.NewScript(r.Replace(createSrc) + salt),
		vote:   redis.NewScript(r.Replace(voteSrc) + salt),
		state:  redis.NewScript(r.Replace(stateSrc) + salt),
	}
}

// Create writes rec's copy (open) and appends its create entry, in one
// step; ErrTaken when a poll with its id exists.
func (q *Queue) Create(ctx context.Context, rec poll.Record) error {
	def, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("creating poll: %w", err)
	}
	n, err := q.run(ctx, q.scripts.create, q.keys(rec.ID), rec.ID, string(def))
	if err != nil {
		return fmt.Errorf("creating poll: %w", err)
	}
	if n == 0 {
		return ErrTaken
	}
	return nil
}

// SetState sets pollID's state (poll.StateOpen or poll.StateClosed) and
// appends the matching command, in one step. It reports whether the state
// changed: closing a closed poll appends nothing. ErrNoPoll when Redis
// holds no copy of the poll.
func (q *Queue) SetState(ctx context.Context, pollID, state string) (bool, error) {
	op := ballot.OpReopen
	if state == poll.StateClosed {
		op = ballot.OpClose
	}
	n, err := q.run(ctx, q.scripts.state, q.keys(pollID), pollID, state, op)
	if err != nil {
		return false, fmt.Errorf("setting poll state: %w", err)
	}
	switch n {
	case stateNoPoll:
		return false, ErrNoPoll
	case stateUnchanged:
		return false, nil
	}
	return true, nil
}

// run runs script and reads its whole-number answer. With replicas to
// wait for, the script and a WAIT after it go in one pipeline, on one
// connection; too few replicas is ErrNotReplicated, even for an answer
// that wrote nothing (the caller is told "not now", never "done" early).
func (q *Queue) run(ctx context.Context, script *redis.Script, keys []string, args ...any) (int64, error) {
	if q.wait.Replicas <= 0 {
		return script.Run(ctx, q.rdb, keys, args...).Int64()
	}
	exec := func(eval bool) (*redis.Cmd, error) {
		pipe, err := q.pipeline()
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
		_, _ = pipe.Exec(ctx)
		return cmd, q.waited(w)
	}
	cmd, waited := exec(false)
	if cmd != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd, waited = exec(true)
	}
	if cmd == nil {
		return 0, waited
	}
	n, err := cmd.Int64()
	if err != nil {
		return 0, err
	}
	return n, waited
}

// Copy is what Redis holds of a poll: its definition, its state and the
// last tally the worker committed (JSON, nil before the first).
type Copy struct {
	Record poll.Record
	State  string
	Tally  []byte
}

// Load reads pollID's copy; ErrNoPoll when there is none. The default poll
// has no definition in Redis: its Record is left empty and its state open,
// with the tally the worker may have kept for it.
func (q *Queue) Load(ctx context.Context, pollID string) (Copy, error) {
	vals, err := q.rdb.HMGet(ctx, ballot.PollKey(q.stream, pollID), ballot.PollDef, ballot.PollState, ballot.PollTally).Result()
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
		return Copy{}, ErrNoPoll
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

func (q *Queue) keys(pollID string) []string {
	return []string{ballot.PollKey(q.stream, pollID), q.stream}
}
