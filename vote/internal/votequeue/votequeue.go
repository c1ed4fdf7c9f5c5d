// Package votequeue is the vote server's side of the Redis stream the
// workers read: it appends votes and poll commands (create, close, reopen)
// and reads the copy of each poll that sits beside the stream.
//
// Votes from concurrent requests are sent to Redis together, in one
// pipeline: under load the batches grow by themselves, while a lone vote
// goes out at once (nothing waits for a batch to fill). A vote in a poll
// other than the default one goes through a Lua script that checks the
// poll's state and appends in one step, so no vote lands after a close was
// acknowledged; the votes of a batch share one call of it.
//
// The stream may be split into shards (ballot.Shards): each voter's votes
// go to the shard of its id, each shard has senders of its own, and on a
// Redis Cluster each batch goes to its shard's primary.
package votequeue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// Errors of Append and the poll commands.
var (
	// ErrStopped reports an Append after Close.
	ErrStopped = errors.New("votequeue: stopped")
	// ErrNoPoll reports a poll that Redis holds no copy of.
	ErrNoPoll = errors.New("votequeue: no such poll")
	// ErrPollClosed reports a vote in a closed poll.
	ErrPollClosed = errors.New("votequeue: poll is closed")
	// ErrTaken reports a create whose poll id is already in use.
	ErrTaken = errors.New("votequeue: poll id taken")
	// ErrNotReplicated reports a write that fewer replicas than
	// Wait.Replicas acknowledged within Wait.Timeout. It was not
	// acknowledged; it may still reach the replicas (and be counted) later.
	ErrNotReplicated = errors.New("votequeue: not enough Redis replicas acknowledged the write in time")
)

// Wait is how many replicas must hold a write before it is acknowledged
// (Redis's WAIT), and how long to wait for them. Replicas 0 sends no WAIT.
type Wait struct {
	Replicas int
	// Timeout must be positive when Replicas is (WAIT 0 would wait for
	// ever), and below the client's read timeout.
	Timeout time.Duration
}

// maxBatch bounds how many votes go in one pipeline.
const maxBatch = 256

// senders is how many pipelines may be in flight at once.
const senders = 4

// Queue is the vote stream's shards and the poll copies beside them.
type Queue struct {
	rdb     redis.UniversalClient
	shards  ballot.Shards
	scripts scripts
	reqs    []chan *pending // one per shard
	wait    Wait
	wg      sync.WaitGroup

	mu      sync.RWMutex
	stopped bool
}

type pending struct {
	ctx                 context.Context
	poll, voter, option string
	id                  string
	err                 error
	done                chan struct{}
}

// New returns the Queue of shards on rdb and starts its senders; Close
// stops them.
func New(rdb redis.UniversalClient, shards ballot.Shards) *Queue {
	return NewWaiting(rdb, shards, Wait{})
}

// NewWaiting is New, acknowledging each write only once wait.Replicas
// replicas hold it.
func NewWaiting(rdb redis.UniversalClient, shards ballot.Shards, wait Wait) *Queue {
	if wait.Replicas > 0 && wait.Timeout <= 0 {
		wait.Timeout = time.Second
	}
	q := &Queue{rdb: rdb, shards: shards, scripts: newScripts(""), wait: wait}
	q.reqs = make([]chan *pending, shards.N())
	for k := range q.reqs {
		q.reqs[k] = make(chan *pending, maxBatch*senders)
		for i := 0; i < senders; i++ {
			q.wg.Add(1)
			go q.send(k)
		}
	}
	return q
}

// Append adds voterID's vote for option in pollID and returns its stream
// entry id once Redis holds it. The id orders the voter's votes: a later
// one replaces an earlier one. A poll other than the default one must have
// a copy in Redis (else ErrNoPoll) and be open (else ErrPollClosed); the
// caller checks that option is one of the poll's.
func (q *Queue) Append(ctx context.Context, pollID, voterID, option string) (string, error) {
	id, err := q.append(ctx, pollID, voterID, option)
	if errors.Is(err, ErrNoPoll) {
		// The voter's shard may lack a copy that exists elsewhere: its home
		// shard has it (a vote server died between the shards of a
		// create), or it is still where versions before shards kept it.
		// Copied over, the vote goes again.
		healed, herr := q.heal(ctx, pollID, q.shards.Of(voterID))
		if herr != nil {
			return "", fmt.Errorf("appending vote: %w", herr)
		}
		if healed {
			return q.append(ctx, pollID, voterID, option)
		}
	}
	return id, err
}

// heal brings pollID's copy to shard k from where else it is: its home
// shard, or (on a single Redis with one shard) its key before shards. It
// reports whether there was anything to bring.
func (q *Queue) heal(ctx context.Context, pollID string, k int) (bool, error) {
	if q.shards.N() == 1 {
		return q.adoptLegacy(ctx, pollID)
	}
	vals, err := q.rdb.HMGet(ctx, q.shards.HomeKey(pollID), ballot.PollDef, ballot.PollState, ballot.PollStateAt).Result()
	if err != nil {
		return false, err
	}
	def, _ := vals[0].(string)
	state, _ := vals[1].(string)
	at, _ := vals[2].(string)
	if def == "" || state == "" {
		return false, nil
	}
	if at == "" {
		at = "0-0"
	}
	if _, err := q.run(ctx, q.scripts.sync, []string{q.shards.PollKey(k, pollID)}, def, state, at, "0"); err != nil {
		return false, err
	}
	return true, nil
}

// adoptLegacy moves pollID's copy from its key before shards
// (ballot.LegacyPollKey) to its key now, as the worker does for every
// poll when it starts: a poll an old vote server created during a rolling
// upgrade is found at once. Only a single Redis with one shard had that
// layout. It reports whether a copy was moved.
func (q *Queue) adoptLegacy(ctx context.Context, pollID string) (bool, error) {
	if _, cluster := q.rdb.(*redis.ClusterClient); cluster || q.shards.N() != 1 || pollID == poll.DefaultID {
		return false, nil
	}
	n, err := q.scripts.adopt.Run(ctx, q.rdb, []string{ballot.LegacyPollKey(q.shards.Prefix(), pollID), q.shards.PollKey(0, pollID)}).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

func (q *Queue) append(ctx context.Context, pollID, voterID, option string) (string, error) {
	p := &pending{ctx: ctx, poll: pollID, voter: voterID, option: option, done: make(chan struct{})}
	q.mu.RLock()
	if q.stopped {
		q.mu.RUnlock()
		return "", ErrStopped
	}
	select {
	case q.reqs[q.shards.Of(voterID)] <- p:
	case <-ctx.Done():
		q.mu.RUnlock()
		return "", fmt.Errorf("appending vote: %w", ctx.Err())
	}
	q.mu.RUnlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		// The vote may still be written; the caller will not say it was.
		return "", fmt.Errorf("appending vote: %w", ctx.Err())
	}
	if p.err != nil {
		if errors.Is(p.err, ErrNoPoll) || errors.Is(p.err, ErrPollClosed) || errors.Is(p.err, ErrNotReplicated) {
			return "", p.err
		}
		return "", fmt.Errorf("appending vote: %w", p.err)
	}
	return p.id, nil
}

// send takes whatever votes are waiting for shard k, up to maxBatch, and
// writes them in one pipeline.
func (q *Queue) send(k int) {
	defer q.wg.Done()
	batch := make([]*pending, 0, maxBatch)
	slots := make([]slot, 0, maxBatch)
	var retry []*pending
	reqs := q.reqs[k]
	for first := range reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-reqs:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		var waited error
		slots, waited = q.write(k, batch, slots[:0], false)
		retry = retry[:0]
		for i, p := range batch {
			if slots[i].err != nil {
				p.err = slots[i].err
			} else if slots[i].cmd == nil {
				p.err = p.ctx.Err()
			} else if p.id, p.err = slots[i].result(); redis.HasErrorPrefix(p.err, "NOSCRIPT") {
				// Redis lost its scripts (a restart): sent again below,
				// with the script's body this time.
				retry = append(retry, p)
				continue
			} else if p.err == nil && waited != nil {
				p.id, p.err = "", waited
			}
			close(p.done)
		}
		// The retried votes are acknowledged after the others of the batch
		// and land after them in the stream: the order the server answers
		// in is the stream's order.
		if len(retry) > 0 {
			slots, waited = q.write(k, retry, slots[:0], true)
			for i, p := range retry {
				if slots[i].err != nil {
					p.err = slots[i].err
				} else if p.id, p.err = slots[i].result(); p.err == nil && waited != nil {
					p.id, p.err = "", waited
				}
				close(p.done)
			}
		}
	}
}

// write sends batch's votes to shard k in one pipeline (with its WAIT) and
// returns their slots and what the WAIT said. When the pipeline went
// straight to a node that no longer holds the shard's slot (a failover:
// every command answered MOVED, so nothing was written), it waits for the
// cluster client to learn the slot's new primary and sends the batch
// there once more.
func (q *Queue) write(k int, batch []*pending, slots []slot, eval bool) ([]slot, error) {
	key := q.shards.Key(k)
	for attempt := 0; ; attempt++ {
		pipe, err := q.pipeline(key)
		if err != nil {
			slots = slots[:0]
			for range batch {
				slots = append(slots, slot{err: err})
			}
			return slots, nil
		}
		slots = q.queue(pipe, k, batch, slots[:0], eval)
		if pipe.Len() == 0 {
			return slots, nil
		}
		w := q.waitCmd(pipe)
		// Each command's own result is read by the caller; Exec's error is the first.
		_, err = pipe.Exec(context.Background())
		q.moved(err)
		if attempt == 0 && allMoved(slots) && q.follow(key, err) {
			continue
		}
		return slots, q.waited(w)
	}
}

// allMoved reports whether every command of slots was refused with MOVED.
func allMoved(slots []slot) bool {
	sent := false
	for _, s := range slots {
		if s.cmd == nil {
			continue
		}
		if !redis.HasErrorPrefix(s.cmd.Err(), "MOVED") {
			return false
		}
		sent = true
	}
	return sent
}

// follow waits, at most half a second, until the cluster client's map
// names the node a MOVED error pointed to as key's primary; false without
// a cluster, a MOVED, or the node in time.
func (q *Queue) follow(key string, moved error) bool {
	c, ok := q.rdb.(*redis.ClusterClient)
	if !ok || moved == nil {
		return false
	}
	f := strings.Fields(moved.Error())
	if len(f) != 3 || f[0] != "MOVED" {
		return false
	}
	ctx := context.Background()
	for range 25 {
		c.ReloadState(ctx)
		if node, err := c.MasterForKey(ctx, key); err == nil && node.Options().Addr == f[2] {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// pipeline returns a pipeline for writes to key whose commands all go
// over one connection to the primary holding key, so a WAIT at its end
// counts the replicas holding its writes. A cluster client would send a
// WAIT, which names no key, to any node: there the pipeline is key's
// node's. Without the node, nothing is written: a WAIT elsewhere would
// count another connection's writes.
func (q *Queue) pipeline(key string) (redis.Pipeliner, error) {
	if c, ok := q.rdb.(*redis.ClusterClient); ok && q.wait.Replicas > 0 {
		node, err := c.MasterForKey(context.Background(), key)
		if err != nil {
			return nil, fmt.Errorf("finding the Redis Cluster node of %s: %w", key, err)
		}
		return node.Pipeline(), nil
	}
	return q.rdb.Pipeline(), nil
}

// moved has a cluster client read the cluster's slots again after a
// pipeline sent straight to a node failed: the node may have failed over
// or handed its slots on (MOVED), and the next batch must find the new
// primary. The batch's callers get the error and retry.
func (q *Queue) moved(err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	if c, ok := q.rdb.(*redis.ClusterClient); ok && q.wait.Replicas > 0 {
		c.ReloadState(context.Background())
	}
}

// waitCmd puts a WAIT at the end of pipe, after its writes; nil when no
// replica is waited for.
func (q *Queue) waitCmd(pipe redis.Pipeliner) *redis.Cmd {
	if q.wait.Replicas <= 0 {
		return nil
	}
	// go-redis's Wait is not on its pipelines; WAIT's timeout is in ms.
	return pipe.Do(context.Background(), "wait", q.wait.Replicas, q.wait.Timeout.Milliseconds())
}

// waited reports whether w's WAIT saw enough replicas: nil when it did (or
// nothing was waited for), ErrNotReplicated, or the error WAIT failed with.
func (q *Queue) waited(w *redis.Cmd) error {
	if w == nil {
		return nil
	}
	n, err := w.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("waiting for %d Redis replicas: %w", q.wait.Replicas, err)
	case int(n) < q.wait.Replicas:
		return fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, n, q.wait.Replicas, q.wait.Timeout)
	}
	return nil
}

// slot is where a vote's answer will be: its command, and its place in
// the answer of a vote script (-1 for a plain XADD); or the error that
// kept it from being sent.
type slot struct {
	cmd redis.Cmder
	i   int
	err error
}

// queue puts batch's votes on pipe, in order, and appends one slot per
// vote to slots (a nil cmd for a vote whose caller gave up). A vote in the
// default poll, which has no copy and is always open, is a plain XADD;
// each run of votes in other polls is one call of the vote script (by its
// digest, or with its body when eval).
func (q *Queue) queue(pipe redis.Pipeliner, k int, batch []*pending, slots []slot, eval bool) []slot {
	stream := q.shards.Key(k)
	ctx := context.Background()
	var (
		keys []string
		args []any
	)
	flush := func() {
		if len(keys) == 0 {
			return
		}
		var cmd *redis.Cmd
		if eval {
			cmd = q.scripts.vote.Eval(ctx, pipe, keys, args...)
		} else {
			cmd = q.scripts.vote.EvalSha(ctx, pipe, keys, args...)
		}
		for i := len(slots) - (len(keys) - 1); i < len(slots); i++ {
			slots[i].cmd = cmd
		}
		keys, args = nil, nil
	}
	for _, p := range batch {
		switch {
		case p.ctx.Err() != nil:
			// Its caller has given up and answered; do not write it.
			flush()
			slots = append(slots, slot{})
		case p.poll == poll.DefaultID:
			flush()
			slots = append(slots, slot{i: -1, cmd: pipe.XAdd(ctx, &redis.XAddArgs{
				Stream: stream,
				Values: []string{ballot.FieldPoll, p.poll, ballot.FieldVoter, p.voter, ballot.FieldVote, p.option},
			})})
		default:
			if keys == nil {
				keys = append(make([]string, 0, len(batch)+1), stream)
				args = make([]any, 0, 3*len(batch))
			}
			slots = append(slots, slot{i: len(keys) - 1})
			keys = append(keys, q.shards.PollKey(k, p.poll))
			args = append(args, p.poll, p.voter, p.option)
		}
	}
	flush()
	return slots
}

// result reads the vote's stream id out of its XADD or its place in the
// vote script's answer.
func (s slot) result() (string, error) {
	switch c := s.cmd.(type) {
	case *redis.StringCmd:
		return c.Result()
	case *redis.Cmd:
		v, err := c.Slice()
		if err != nil {
			return "", err
		}
		if s.i < 0 || s.i >= len(v) {
			return "", fmt.Errorf("vote script answered %d votes, want at least %d", len(v), s.i+1)
		}
		switch v := v[s.i].(type) {
		case string:
			return v, nil
		case int64:
			switch v {
			case voteNoPoll:
				return "", ErrNoPoll
			case voteClosed:
				return "", ErrPollClosed
			}
		}
		return "", fmt.Errorf("vote script answered %T", v[s.i])
	}
	return "", fmt.Errorf("unexpected command %T", s.cmd)
}

// Close stops the senders once the votes already queued are written.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.stopped {
		q.stopped = true
		for _, reqs := range q.reqs {
			close(reqs)
		}
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// Ping reports whether Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	return q.rdb.Ping(ctx).Err()
}
