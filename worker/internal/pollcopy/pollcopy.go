// Package pollcopy keeps the vote servers' copy of each poll in Redis (a
// hash per poll, ballot.PollKey) current from the worker's side: it writes
// each committed tally there, and puts back from PostgreSQL the polls
// whose hash Redis lost.
package pollcopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/tally"
	"livevote/worker/internal/votedb"
)

// writeTallySrc stores a tally in a poll's hash unless the hash holds one of
// the same epoch and the same or a higher version (batches of several
// workers commit in one order and may reach Redis in another). A tally of
// another epoch always replaces it: the database's history changed (a
// restore), its versions went back, and the pages must show its tally. A
// missing epoch field (a worker older than epochs) is the empty epoch. A
// missing hash is left missing: a hash with a tally but no definition or
// state would make the poll look closed to the vote servers and would stop
// its restore.
const writeTallySrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HMGET', KEYS[1], ARGV[3], ARGV[5])
if cur[1] and (cur[2] or '') == ARGV[6] and tonumber(cur[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1`

// restore writes a poll's whole hash only if the hash does not exist: a
// hash that exists may hold a close the worker has not applied yet.
var restore = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

// Copy is the poll copy beside one vote stream.
type Copy struct {
	rdb    redis.UniversalClient
	stream string
	write  *redis.Script // writeTallySrc; a test's own copy is one Redis has never seen
}

// New returns the copy of the polls of stream.
func New(rdb redis.UniversalClient, stream string) *Copy {
	return &Copy{rdb: rdb, stream: stream, write: redis.NewScript(writeTallySrc)}
}

// WriteTallies stores each tally in its poll's hash, keeping a higher
// version of the same epoch already there.
func (c *Copy) WriteTallies(ctx context.Context, tallies []tally.Tally) error {
	if len(tallies) == 0 {
		return nil
	}
	// One round trip for all, by digest: each tally's EVAL would send the
	// script's text and make Redis hash it again, ~650 times per batch over
	// many polls, on the CPU the vote servers' appends need. A Redis that
	// lost its scripts (a restart) answers NOSCRIPT; those writes go again
	// with the body (a write is kept only over a lower version, so its
	// order against the others does not matter).
	write := func(sha bool, ts []tally.Tally) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, 0, len(ts))
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, t := range ts {
				keys := []string{ballot.PollKey(c.stream, t.Poll)}
				args := []any{ballot.PollTally, t.AppendJSON(nil), ballot.PollTallyVersion, t.Version,
					ballot.PollTallyEpoch, t.Epoch}
				if sha {
					cmds = append(cmds, c.write.EvalSha(ctx, p, keys, args...))
				} else {
					cmds = append(cmds, c.write.Eval(ctx, p, keys, args...))
				}
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := write(true, tallies)
	var again []tally.Tally
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, tallies[i])
		} else if cmd.Err() != nil {
			return fmt.Errorf("writing tallies to the poll copy: %w", cmd.Err())
		}
	}
	if len(again) == 0 && err != nil {
		return fmt.Errorf("writing tallies to the poll copy: %w", err)
	}
	if len(again) > 0 {
		cmds, err := write(false, again)
		if err != nil {
			return fmt.Errorf("writing tallies to the poll copy: %w", firstErr(cmds, err))
		}
	}
	return nil
}

// Restore writes each poll whose hash is missing: its definition, state
// and tally. It returns how many it wrote.
func (c *Copy) Restore(ctx context.Context, polls []votedb.Stored) (int, error) {
	if len(polls) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.Cmd, 0, len(polls))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range polls {
			def, err := json.Marshal(s.Record)
			if err != nil {
				return fmt.Errorf("encoding poll %s: %w", s.Record.ID, err)
			}
			cmds = append(cmds, restore.Eval(ctx, p, []string{ballot.PollKey(c.stream, s.Record.ID)},
				ballot.PollDef, def,
				ballot.PollState, s.Record.State,
				ballot.PollTally, s.Tally.AppendJSON(nil),
				ballot.PollTallyVersion, strconv.FormatInt(s.Tally.Version, 10),
				ballot.PollTallyEpoch, s.Tally.Epoch))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("restoring the poll copy: %w", err)
	}
	n := 0
	for _, cmd := range cmds {
		if v, _ := cmd.Int(); v == 1 {
			n++
		}
	}
	return n, nil
}

// Definitions reads the definition (the poll.Record JSON) of each poll of
// ids that has one in the copy, in one round trip. The vote server writes a
// poll's definition in the same script that appends its create, so every
// poll an entry of the stream names has one, even while its create waits
// in another worker's batch. A poll with no hash is absent from the map.
func (c *Copy) Definitions(ctx context.Context, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, ballot.PollKey(c.stream, id), ballot.PollDef)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading poll definitions: %w", err)
	}
	out := make(map[string]string, len(ids))
	for i, cmd := range cmds {
		def, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			// No such poll: the caller drops its entries.
		case err != nil:
			return nil, fmt.Errorf("reading poll definitions: %w", err)
		default:
			out[ids[i]] = def
		}
	}
	return out, nil
}

func firstErr(cmds []*redis.Cmd, err error) error {
	for _, c := range cmds {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return err
}
