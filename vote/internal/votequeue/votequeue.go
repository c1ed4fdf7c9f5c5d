// Package votequeue appends accepted votes to the Redis stream the workers
// read. Votes from concurrent requests are sent to Redis together, in one
// pipeline: under load the batches grow by themselves, while a lone vote
// goes out at once (nothing waits for a batch to fill).
package votequeue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
)

// ErrClosed reports an Append after Close.
var ErrClosed = errors.New("votequeue: closed")

// maxBatch bounds how many votes go in one pipeline.
const maxBatch = 256

// senders is how many pipelines may be in flight at once.
const senders = 4

// Queue is the vote stream.
type Queue struct {
	rdb    *redis.Client
	stream string
	reqs   chan *pending
	wg     sync.WaitGroup

	mu     sync.RWMutex
	closed bool
}

type pending struct {
	ctx           context.Context
	voter, option string
	id            string
	err           error
	done          chan struct{}
}

// New returns the Queue of stream on rdb and starts its senders; Close
// stops them.
func New(rdb *redis.Client, stream string) *Queue {
	q := &Queue{rdb: rdb, stream: stream, reqs: make(chan *pending, maxBatch*senders)}
	for i := 0; i < senders; i++ {
		q.wg.Add(1)
		go q.send()
	}
	return q
}

// Append adds one vote and returns its stream entry id once Redis holds it.
// The id orders the voter's votes: a later one replaces an earlier one.
func (q *Queue) Append(ctx context.Context, voterID, option string) (string, error) {
	p := &pending{ctx: ctx, voter: voterID, option: option, done: make(chan struct{})}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return "", ErrClosed
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
		return "", fmt.Errorf("appending vote: %w", p.err)
	}
	return p.id, nil
}

// send takes whatever votes are waiting, up to maxBatch, and writes them in
// one pipeline.
func (q *Queue) send() {
	defer q.wg.Done()
	batch := make([]*pending, 0, maxBatch)
	cmds := make([]*redis.StringCmd, 0, maxBatch)
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
			cmds = append(cmds, pipe.XAdd(context.Background(), &redis.XAddArgs{
				Stream: q.stream,
				Values: []string{ballot.FieldVoter, p.voter, ballot.FieldVote, p.option},
			}))
		}
		if pipe.Len() > 0 {
			// Each command's own result is read below; Exec's error is the first.
			_, _ = pipe.Exec(context.Background())
		}
		for i, p := range batch {
			if cmds[i] == nil {
				p.err = p.ctx.Err()
			} else {
				p.id, p.err = cmds[i].Result()
			}
			close(p.done)
		}
	}
}

// Close stops the senders once the votes already queued are written.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.reqs)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// Ping reports whether Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	return q.rdb.Ping(ctx).Err()
}
