// Package votequeue appends accepted votes to the Redis stream the workers
// read.
package votequeue

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
)

// Queue is the vote stream.
type Queue struct {
	rdb    *redis.Client
	stream string
}

// New returns the Queue of stream on rdb.
func New(rdb *redis.Client, stream string) *Queue {
	return &Queue{rdb: rdb, stream: stream}
}

// Append adds one vote and returns its stream entry id once Redis holds it.
// The id orders the voter's votes: a later one replaces an earlier one.
func (q *Queue) Append(ctx context.Context, voterID, option string) (string, error) {
	id, err := q.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: q.stream,
		Values: []string{ballot.FieldVoter, voterID, ballot.FieldVote, option},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("appending vote: %w", err)
	}
	return id, nil
}

// Ping reports whether Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	return q.rdb.Ping(ctx).Err()
}
