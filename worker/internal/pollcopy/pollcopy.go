// Package pollcopy keeps the vote servers' copy of each poll in Redis (a
// hash per poll and shard, ballot.Shards.PollKey) current from the
// worker's side: it writes each committed tally into the poll's copy on
// its home shard, and puts back from PostgreSQL what Redis lost of a
// shard's copies.
package pollcopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
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

// restore is ballot.SyncCopySrc: a restore writes a definition only where
// there is none and a state only where there is none or an older one, so
// a close the worker has not applied yet is kept.
var restore = redis.NewScript(ballot.SyncCopySrc)

// moveLegacy is ballot.MoveLegacyCopySrc.
var moveLegacy = redis.NewScript(ballot.MoveLegacyCopySrc)

// Copy is one shard's poll copies, beside its stream.
type Copy struct {
	rdb    redis.UniversalClient
	shards ballot.Shards
	shard  int
	write  *redis.Script // writeTallySrc; a test's own copy is one Redis has never seen
	moved  bool          // the copies of the layout before shards were moved
}

// New returns shard's poll copies among shards.
func New(rdb redis.UniversalClient, shards ballot.Shards, shard int) *Copy {
	return &Copy{rdb: rdb, shards: shards, shard: shard, write: redis.NewScript(writeTallySrc)}
}

// WriteTallies stores each tally in its poll's copy on the poll's home
// shard, keeping a higher version of the same epoch already there.
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
				keys := []string{c.shards.HomeKey(t.Poll)}
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

// Restore puts back into this shard's copies what Redis lost of each
// poll: its definition, and its state unless the copy holds a later one.
// The state is the later of PostgreSQL's and the home shard's copy's (a
// close acknowledged on the home shard may not be in PostgreSQL yet), so a
// shard that lost its copies never reopens a poll. The tallies are
// WriteTallies's. It returns how many copies it wrote to. On a single
// Redis with one shard it first moves, once, the copies of versions
// before shards to their keys now.
func (c *Copy) Restore(ctx context.Context, polls []votedb.Stored) (int, error) {
	if !c.moved {
		if err := c.moveLegacy(ctx); err != nil {
			return 0, err
		}
		c.moved = true
	}
	if len(polls) == 0 {
		return 0, nil
	}
	homes, err := c.homeStates(ctx, polls)
	if err != nil {
		return 0, err
	}
	cmds := make([]*redis.Cmd, 0, len(polls))
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range polls {
			def, err := json.Marshal(s.Record)
			if err != nil {
				return fmt.Errorf("encoding poll %s: %w", s.Record.ID, err)
			}
			state, at := s.Record.State, s.StateAt
			if at == "" {
				at = "0-0"
			}
			if h := homes[i]; h.state != "" && ballot.SeqLess(at, h.at) {
				state, at = h.state, h.at
			}
			cmds = append(cmds, restore.Eval(ctx, p, []string{c.shards.PollKey(c.shard, s.Record.ID)},
				def, state, at, "1"))
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

// homeState is a poll's state and its command's stream id in its copy on
// its home shard; empty when there is none.
type homeState struct{ state, at string }

// homeStates reads the home shard's state of each poll whose home is
// another shard.
func (c *Copy) homeStates(ctx context.Context, polls []votedb.Stored) ([]homeState, error) {
	out := make([]homeState, len(polls))
	if c.shards.N() == 1 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(polls))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range polls {
			if c.shards.Of(s.Record.ID) != c.shard {
				cmds[i] = p.HMGet(ctx, c.shards.HomeKey(s.Record.ID), ballot.PollState, ballot.PollStateAt)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the home shards' poll states: %w", err)
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		v := cmd.Val()
		state, _ := v[0].(string)
		at, _ := v[1].(string)
		if state != "" && at != "" {
			out[i] = homeState{state, at}
		}
	}
	return out, nil
}

// SpreadStates writes each close or reopen the worker applied into the
// poll's copy on every shard, ordered by its stream id as the vote server
// does: a vote server that died, or ran out of time, between the shards of
// a close leaves no shard open for good. On one shard there is nothing to
// spread (the command's own script set the copy).
func (c *Copy) SpreadStates(ctx context.Context, states []votedb.StateChange) error {
	if c.shards.N() == 1 || len(states) == 0 {
		return nil
	}
	cmds := make([]*redis.Cmd, 0, len(states)*c.shards.N())
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, st := range states {
			at := st.Seq.String()
			for k := range c.shards.N() {
				cmds = append(cmds, restore.Eval(ctx, p, []string{c.shards.PollKey(k, st.Poll)}, "", st.State, at, "0"))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spreading poll states: %w", firstErr(cmds, err))
	}
	return nil
}

// moveLegacy moves the copies kept under ballot.LegacyPollKey by versions
// before shards. They exist only on a single Redis with one shard, the
// one layout those versions had; their state may be ahead of PostgreSQL
// (a close not applied yet), so they are moved, not restored. Keys that
// match the pattern but hold no poll id are not touched.
func (c *Copy) moveLegacy(ctx context.Context) error {
	if _, cluster := c.rdb.(*redis.ClusterClient); cluster || c.shards.N() != 1 {
		return nil
	}
	prefix := ballot.LegacyPollKey(c.shards.Prefix(), "")
	iter := c.rdb.ScanType(ctx, 0, prefix+"*", 1000, "hash").Iterator()
	for iter.Next(ctx) {
		old := iter.Val()
		id := strings.TrimPrefix(old, prefix)
		if !poll.ValidID(id) {
			continue
		}
		if err := moveLegacy.Run(ctx, c.rdb, []string{old, c.shards.PollKey(0, id)}).Err(); err != nil {
			return fmt.Errorf("moving the poll copy %s: %w", old, err)
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("listing the poll copies to move: %w", err)
	}
	return nil
}

// Definitions reads the definition (the poll.Record JSON) of each poll of
// ids that has one in its copy on its home shard, in one round trip. The vote server writes a
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
			cmds[i] = p.HGet(ctx, c.shards.HomeKey(id), ballot.PollDef)
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
