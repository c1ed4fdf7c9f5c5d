// Package votequeue is the vote server's side of the Redis stream the
// workers read: it appends votes and poll commands (create, close, reopen)
// and reads the copy of each poll that sits beside the stream.
//
// Votes from concurrent requests are sent to Redis together, in one
// pipeline: under load the batches grow by themselves, while a lone vote
// goes out at once (nothing waits for a batch to fill). A vote in a poll
// other than the default one runs a Lua script that checks the poll's state
// and appends in one step, so no vote lands after a close was acknowledged.
package votequeue

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
)

// maxBatch bounds how many votes go in one pipeline.
const maxBatch = 256

// senders is how many pipelines may be in flight at once.
const senders = 4

// Queue is the vote stream and the poll copies beside it.
type Queue struct {
	rdb     redis.UniversalClient
	stream  string
	scripts scripts
	reqs    chan *pending
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

// New returns the Queue of stream on rdb and starts its senders; Close
// stops them.
func New(rdb redis.UniversalClient, stream string) *Queue {
	q := &Queue{rdb: rdb, stream: stream, scripts: newScripts(""), reqs: make(chan *pending, maxBatch*senders)}
	for i := 0; i < senders; i++ {
		q.wg.Add(1)
		go q.send()
	}
	return q
}

// Append adds voterID's vote for option in pollID and returns its stream
// entry id once Redis holds it. The id orders the voter's votes: a later
// one replaces an earlier one. A poll other than the default one must have
// a copy in Redis (else ErrNoPoll) and be open (else ErrPollClosed); the
// caller checks that option is one of the poll's.
func (q *Queue) Append(ctx context.Context, pollID, voterID, option string) (string, error) {
	p := &pending{ctx: ctx, poll: pollID, voter: voterID, option: option, done: make(chan struct{})}
	q.mu.RLock()
	if q.stopped {
		q.mu.RUnlock()
		return "", ErrStopped
	}
	select {
	case q.reqs <- p:
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
		if errors.Is(p.err, ErrNoPoll) || errors.Is(p.err, ErrPollClosed) {
			return "", p.err
		}
		return "", fmt.Errorf("appending vote: %w", p.err)
	}
	return p.id, nil
}

// send takes whatever votes are waiting, up to maxBatch, and writes them in
// one pipeline.
func (q *Queue) send() {
	defer q.wg.Done()
	batch := make([]*pending, 0, maxBatch)
	cmds := make([]redis.Cmder, 0, maxBatch)
	var retry []*pending
	for first := range q.reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-q.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		pipe := q.rdb.Pipeline()
		cmds = cmds[:0]
		for _, p := range batch {
			if p.ctx.Err() != nil {
				// Its caller has given up and answered; do not write it.
				cmds = append(cmds, nil)
				continue
			}
			cmds = append(cmds, q.appendCmd(pipe, p, false))
		}
		if pipe.Len() > 0 {
			// Each command's own result is read below; Exec's error is the first.
			_, _ = pipe.Exec(context.Background())
		}
		retry = retry[:0]
		for i, p := range batch {
			if cmds[i] == nil {
				p.err = p.ctx.Err()
			} else if p.id, p.err = appendResult(cmds[i]); redis.HasErrorPrefix(p.err, "NOSCRIPT") {
				// Redis lost its scripts (a restart): sent again below,
				// with the script's body this time.
				retry = append(retry, p)
				continue
			}
			close(p.done)
		}
		// The retried votes are acknowledged after the others of the batch
		// and land after them in the stream: the order the server answers
		// in is the stream's order.
		if len(retry) > 0 {
			pipe := q.rdb.Pipeline()
			cmds = cmds[:0]
			for _, p := range retry {
				cmds = append(cmds, q.appendCmd(pipe, p, true))
			}
			_, _ = pipe.Exec(context.Background())
			for i, p := range retry {
				p.id, p.err = appendResult(cmds[i])
				close(p.done)
			}
		}
	}
}

// appendCmd queues p's vote on pipe: a plain XADD for the default poll,
// which has no copy and is always open, else the vote script (by its
// digest, or with its body when eval).
func (q *Queue) appendCmd(pipe redis.Pipeliner, p *pending, eval bool) redis.Cmder {
	ctx := context.Background()
	if p.poll == poll.DefaultID {
		return pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: q.stream,
			Values: []string{ballot.FieldPoll, p.poll, ballot.FieldVoter, p.voter, ballot.FieldVote, p.option},
		})
	}
	keys := []string{ballot.PollKey(q.stream, p.poll), q.stream}
	if eval {
		return q.scripts.vote.Eval(ctx, pipe, keys, p.poll, p.voter, p.option)
	}
	return q.scripts.vote.EvalSha(ctx, pipe, keys, p.poll, p.voter, p.option)
}

// appendResult reads the stream id out of an XADD or a vote script.
func appendResult(cmd redis.Cmder) (string, error) {
	switch c := cmd.(type) {
	case *redis.StringCmd:
		return c.Result()
	case *redis.Cmd:
		v, err := c.Result()
		if err != nil {
			return "", err
		}
		switch v := v.(type) {
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
		return "", fmt.Errorf("vote script answered %T", v)
	}
	return "", fmt.Errorf("unexpected command %T", cmd)
}

// Close stops the senders once the votes already queued are written.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.stopped {
		q.stopped = true
		close(q.reqs)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// Ping reports whether Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	return q.rdb.Ping(ctx).Err()
}
