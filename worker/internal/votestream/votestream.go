// Package votestream speaks the Redis stream protocol of the vote stream
// for one consumer of its group: create the group, read new entries, claim
// those other consumers abandoned, acknowledge, and notice when Redis has
// lost the group.
package votestream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrGroupLost reports that the stream or its consumer group is gone
// (Redis restarted without its data, or the key was deleted): the group
// must be created again.
var ErrGroupLost = errors.New("votestream: consumer group lost")

// Stream is one consumer's view of the vote stream.
type Stream struct {
	rdb      redis.UniversalClient
	key      string
	group    string
	consumer string
}

// New returns the consumer named consumer of group on the stream key.
func New(rdb redis.UniversalClient, key, group, consumer string) *Stream {
	return &Stream{rdb: rdb, key: key, group: group, consumer: consumer}
}

// Key is the stream's key.
func (s *Stream) Key() string { return s.key }

// CreateGroup creates the consumer group, and the stream if need be. The
// group starts at the stream's beginning, so entries appended before any
// worker ever ran are read too. A group that exists is left as it is.
func (s *Stream) CreateGroup(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.key, s.group, "0").Err()
	if redis.IsOOMError(err) {
		// A full Redis (maxmemory, noeviction) refuses XGROUP CREATE even
		// for a group that exists, while reading and acknowledging, which
		// free memory, still work: a worker starting then must drain.
		if groups, gerr := s.rdb.XInfoGroups(ctx, s.key).Result(); gerr == nil {
			for _, g := range groups {
				if g.Name == s.group {
					return nil
				}
			}
		}
	}
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating consumer group: %w", err)
	}
	return nil
}

// Read waits up to block for entries never delivered to the group and
// returns at most count of them; none when the wait ran out. The read is
// not cut short by ctx: entries Redis hands over are then always received
// (and so pending with this consumer, never lost in between), and a stop
// waits at most one block.
func (s *Stream) Read(ctx context.Context, count int, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(context.WithoutCancel(ctx), &redis.XReadGroupArgs{
		Group:    s.group,
		Consumer: s.consumer,
		Streams:  []string{s.key, ">"},
		Count:    int64(count),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("reading stream", err)
	}
	var msgs []redis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return msgs, nil
}

// Claim takes over, from start on, at most count entries that have been
// pending with some consumer for at least minIdle (it died or hangs). It
// returns them and where the next call should start: "0-0" once the
// pending list has been gone through.
func (s *Stream) Claim(ctx context.Context, start string, minIdle time.Duration, count int) ([]redis.XMessage, string, error) {
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   s.key,
		Group:    s.group,
		Consumer: s.consumer,
		MinIdle:  minIdle,
		Start:    start,
		Count:    int64(count),
	}).Result()
	if err != nil {
		return nil, "", wrap("claiming entries", err)
	}
	if next == "" {
		next = "0-0"
	}
	return msgs, next, nil
}

// Ack acknowledges the entries ids and deletes them, in one transaction:
// one group reads the stream, so an acknowledged entry is of no further use
// and the stream stays as long as the backlog.
func (s *Stream) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, s.key, s.group, ids...)
		p.XDel(ctx, s.key, ids...)
		return nil
	})
	if redis.IsOOMError(err) || redis.HasErrorPrefix(err, "EXECABORT") {
		// A full Redis (maxmemory, noeviction) refuses every command
		// queued in MULTI, but takes XDEL and XACK on their own, and they
		// free the memory the vote servers need. Without the transaction
		// the delete goes first: an entry deleted but still pending leaves
		// the pending list at the next claim (XAUTOCLAIM drops deleted
		// entries), one acknowledged but not deleted would stay for good.
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.XDel(ctx, s.key, ids...)
			p.XAck(ctx, s.key, s.group, ids...)
			return nil
		})
	}
	return wrap("acknowledging entries", err)
}

// Sample is the stream's state for metrics.
type Sample struct {
	// Length is the entries in the stream: the backlog, since acknowledged
	// entries are deleted.
	Length int64
	// Pending is the entries delivered to a consumer and not acknowledged.
	Pending int64
	// OldestPendingAge is how long ago the oldest pending entry was
	// appended; 0 when nothing is pending.
	OldestPendingAge time.Duration
}

// Sample reads the stream's length and pending entries.
func (s *Stream) Sample(ctx context.Context) (Sample, error) {
	var out Sample
	n, err := s.rdb.XLen(ctx, s.key).Result()
	if err != nil {
		return out, wrap("sampling stream", err)
	}
	out.Length = n
	p, err := s.rdb.XPending(ctx, s.key, s.group).Result()
	if err != nil {
		return out, wrap("sampling stream", err)
	}
	out.Pending = p.Count
	if p.Count > 0 {
		// An entry id starts with the milliseconds at which Redis appended it.
		ms, _, _ := strings.Cut(p.Lower, "-")
		if t, err := strconv.ParseInt(ms, 10, 64); err == nil {
			out.OldestPendingAge = max(0, time.Since(time.UnixMilli(t)))
		}
	}
	return out, nil
}

// RemoveIdleConsumers forgets the consumers other than this one that have
// nothing pending and have been idle for at least idle (workers that
// stopped), so the group does not gain a name per restart. It returns
// their names.
func (s *Stream) RemoveIdleConsumers(ctx context.Context, idle time.Duration) ([]string, error) {
	cs, err := s.rdb.XInfoConsumers(ctx, s.key, s.group).Result()
	if err != nil {
		return nil, wrap("listing consumers", err)
	}
	var removed []string
	for _, c := range cs {
		if c.Name == s.consumer || c.Pending != 0 || c.Idle < idle {
			continue
		}
		if err := s.rdb.XGroupDelConsumer(ctx, s.key, s.group, c.Name).Err(); err != nil {
			return removed, wrap("removing consumer", err)
		}
		removed = append(removed, c.Name)
	}
	return removed, nil
}

// wrap gives err context, marking a lost group: NOGROUP, or UNBLOCKED when
// the stream is deleted under a blocked read.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "NOGROUP") || strings.Contains(msg, "UNBLOCKED") {
		return fmt.Errorf("%s: %w: %w", what, ErrGroupLost, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
