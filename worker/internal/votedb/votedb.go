// Package votedb is the worker's PostgreSQL: it migrates the schema and
// applies batches of stream entries (poll creates, votes, closes and
// reopens), keeping each poll's running counts and tally version in the
// same transaction.
package votedb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/poll"
	"livevote/shared/schema"
	"livevote/shared/tally"
)

// Store is the votes database.
type Store struct {
	pool  *pgxpool.Pool
	ready atomic.Bool // set once Migrate succeeded
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// insertPolls creates the polls of a batch; an id that exists already
// (a redelivered create) is left as it is, options included.
const insertPolls = `
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
        AS i(id, question, token_hash, created_at)
), ins AS (
    INSERT INTO polls (id, question, token_hash, created_at, updated_at)
    SELECT id, question, NULLIF(token_hash, ''), created_at, created_at FROM input
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), opts AS (
    INSERT INTO poll_options (poll, option, position, label)
    SELECT o.poll, o.option, o.position, o.label
    FROM unnest($5::text[], $6::text[], $7::int2[], $8::text[]) AS o(poll, option, position, label)
    JOIN ins ON ins.id = o.poll
)
SELECT array(SELECT id FROM ins)`

// lockPolls locks the batch's polls in id order, so that workers whose
// batches share polls never deadlock, and so that every later statement of
// the batch (each takes a new snapshot) sees every earlier batch on them:
// the old ballots it reads are the ones it replaces, and each change gets
// the next version of its poll.
const lockPolls = `SELECT id, version FROM polls WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`

// upsertVotes stores each voter's vote in each poll unless the row already
// holds one accepted later, and moves the counts by what actually changed;
// a poll's version goes up when one of its counts did. Votes for a poll or
// an option that does not exist are left out (and counted), never failing
// the batch.
const upsertVotes = `
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
        AS i(poll, voter, vote, seq_ms, seq_n)
), valid AS (
    -- DISTINCT ON keeps one row per ballot even if a caller skipped Latest:
    -- an upsert may not touch a row twice.
    SELECT DISTINCT ON (i.poll, i.voter) i.*
    FROM input i JOIN poll_options o ON o.poll = i.poll AND o.option = i.vote
    ORDER BY i.poll, i.voter, i.seq_ms DESC, i.seq_n DESC
), up AS (
    INSERT INTO ballots AS b (poll, voter, vote, seq_ms, seq_n)
    SELECT poll, voter, vote, seq_ms, seq_n FROM valid
    ON CONFLICT (poll, voter) DO UPDATE
        SET vote = EXCLUDED.vote, seq_ms = EXCLUDED.seq_ms, seq_n = EXCLUDED.seq_n
        WHERE (b.seq_ms, b.seq_n) < (EXCLUDED.seq_ms, EXCLUDED.seq_n)
    RETURNING b.poll, b.voter, b.vote
), delta AS (
    SELECT poll, option, sum(d)::bigint AS d FROM (
        SELECT poll, vote AS option, 1 AS d FROM up
        UNION ALL
        -- Every part of the statement reads the snapshot taken before it,
        -- so ballots still holds the replaced votes here. Joined to up by
        -- its primary key, one index probe per row: joining to the valid
        -- CTE instead, which the planner guesses holds one row, made a
        -- nested loop over the whole batch for every replaced ballot
        -- (quadratic: 120 ms of a 130 ms batch of 1,000 under load).
        SELECT prev.poll, prev.vote, -1 FROM up JOIN ballots prev ON prev.poll = up.poll AND prev.voter = up.voter
    ) changes
    GROUP BY poll, option
    HAVING sum(d) <> 0
), counted AS (
    UPDATE poll_options o SET votes = o.votes + delta.d
    FROM delta WHERE o.poll = delta.poll AND o.option = delta.option
    RETURNING o.poll
), versioned AS (
    UPDATE polls p SET version = p.version + 1, updated_at = clock_timestamp()
    WHERE p.id IN (SELECT poll FROM delta)
    RETURNING p.id
)
SELECT (SELECT count(*) FROM input) - (SELECT count(*) FROM valid), (SELECT count(*) FROM up)`

// setState applies one close or reopen unless the poll holds a state
// command accepted later; only a real change of state is a new version.
const setState = `
UPDATE polls SET
    state = $2, state_seq_ms = $3, state_seq_n = $4,
    version = version + CASE WHEN state <> $2 THEN 1 ELSE 0 END,
    updated_at = CASE WHEN state <> $2 THEN clock_timestamp() ELSE updated_at END
WHERE id = $1 AND (state_seq_ms, state_seq_n) < ($3, $4)`

// batchTallies reads the committed tallies of the polls in $1 (text[]),
// one row per poll with its options' ids and counts in arrays. With votes
// spread over many polls a batch reads hundreds of them: one row per
// option in poll and position order (schema.SelectTallies) sorted ~7,000
// rows, and a GROUP BY spilled its hash table to disk, since the generic
// plan of a cached statement guesses ten polls in $1. Here each poll's
// options come from the primary key's index, with nothing to sort or hash.
// The order of the rows and of the options in a row does not matter: a
// tally is a map of counts. Each row has the database's epoch, read in
// the batch's transaction, so a tally names the history that produced it.
const batchTallies = `
SELECT p.id, p.version, p.state, p.updated_at, o.options, o.votes, ` + schema.Epoch + `
FROM polls p, LATERAL (
    SELECT array_agg(option) AS options, array_agg(votes) AS votes
    FROM poll_options WHERE poll = p.id
) o
WHERE p.id = ANY($1::text[]) AND o.options IS NOT NULL`

// scanBatchTallies reads the rows of batchTallies and closes them.
func scanBatchTallies(rows pgx.Rows) (map[string]tally.Tally, error) {
	out := make(map[string]tally.Tally)
	var (
		id, state, epoch string
		version          int64
		at               time.Time
		options          []string
		votes            []int64
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &version, &state, &at, &options, &votes, &epoch}, func() error {
		if len(options) != len(votes) {
			return fmt.Errorf("poll %s: %d options but %d counts", id, len(options), len(votes))
		}
		counts := make(map[string]int64, len(options))
		for i, o := range options {
			counts[o] = votes[i]
		}
		t := tally.New(id, version, nil, counts, state, at)
		t.Epoch = epoch
		out[id] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading tallies: %w", err)
	}
	return out, nil
}

// PollResult is what a batch left of one poll it named.
type PollResult struct {
	// Tally is the poll's committed tally after the batch.
	Tally tally.Tally
	// Changed reports whether the batch gave the poll a new version.
	Changed bool
	// Created reports whether the batch created the poll.
	Created bool
}

// Result is what one Apply did.
type Result struct {
	// Polls has every poll the batch named that exists, in id order.
	Polls []PollResult
	// Ballots counts the votes that added or replaced a voter's ballot.
	Ballots int
	// Invalid counts the entries dropped because their poll or option
	// does not exist.
	Invalid int
	// Epoch is the database's epoch in the batch's transaction (the
	// Epoch of every tally of Polls); empty when Polls is.
	Epoch string
}

// Changed returns the tallies of the polls the batch created or gave a new
// version.
func (r Result) Changed() []tally.Tally {
	var out []tally.Tally
	for _, p := range r.Polls {
		if p.Changed || p.Created {
			out = append(out, p.Tally)
		}
	}
	return out
}

// Tallies returns the tallies of every poll the batch named.
func (r Result) Tallies() []tally.Tally {
	out := make([]tally.Tally, len(r.Polls))
	for i, p := range r.Polls {
		out[i] = p.Tally
	}
	return out
}

// Apply stores a batch in one transaction: the creates, then the votes,
// then the closes and reopens in order. A batch applied twice changes
// nothing the second time, since every row remembers the stream id that
// last changed it.
func (s *Store) Apply(ctx context.Context, b Batch) (Result, error) {
	var (
		res     Result
		touched = pollIDs(b)
		created []string
		b2      = &pgx.Batch{}
	)
	if len(touched) == 0 {
		return res, nil
	}
	creates := dedupeCreates(b.Creates)
	if len(creates) > 0 {
		b2.Queue(insertPolls, createArgs(creates)...)
	}
	b2.Queue(lockPolls, touched)
	if len(b.Votes) > 0 {
		polls := make([]string, len(b.Votes))
		voters := make([]string, len(b.Votes))
		opts := make([]string, len(b.Votes))
		ms := make([]int64, len(b.Votes))
		ns := make([]int64, len(b.Votes))
		for i, v := range b.Votes {
			polls[i], voters[i], opts[i] = v.Poll, v.VoterID, v.Option
			ms[i], ns[i] = int64(v.Seq.Ms), int64(v.Seq.N)
		}
		b2.Queue(upsertVotes, polls, voters, opts, ms, ns)
	}
	for _, st := range b.States {
		b2.Queue(setState, st.Poll, st.State, int64(st.Seq.Ms), int64(st.Seq.N))
	}
	b2.Queue(batchTallies, touched)

	// A batch with no BEGIN runs as one implicit transaction that commits at
	// its end (PostgreSQL's pipeline rule), so every statement shares one
	// round trip, and Close returns only after the commit.
	br := s.pool.SendBatch(ctx, b2)
	before := make(map[string]int64, len(touched))
	var tallies map[string]tally.Tally
	err := func() error {
		if len(creates) > 0 {
			if err := br.QueryRow().Scan(&created); err != nil {
				return fmt.Errorf("creating polls: %w", err)
			}
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("locking polls: %w", err)
		}
		var id string
		var version int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &version}, func() error {
			before[id] = version
			return nil
		}); err != nil {
			return fmt.Errorf("locking polls: %w", err)
		}
		if len(b.Votes) > 0 {
			if err := br.QueryRow().Scan(&res.Invalid, &res.Ballots); err != nil {
				return fmt.Errorf("storing votes: %w", err)
			}
		}
		for _, st := range b.States {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("setting poll %s %s: %w", st.Poll, st.State, err)
			}
			if _, ok := before[st.Poll]; !ok {
				res.Invalid++
			}
		}
		rows, err = br.Query()
		if err != nil {
			return fmt.Errorf("reading tallies: %w", err)
		}
		tallies, err = scanBatchTallies(rows)
		return err
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("committing batch: %w", cerr)
	}
	if err != nil {
		return Result{}, err
	}
	for _, id := range touched {
		t, ok := tallies[id]
		if !ok {
			continue
		}
		v0, existed := before[id]
		res.Epoch = t.Epoch
		res.Polls = append(res.Polls, PollResult{
			Tally:   t,
			Changed: existed && t.Version != v0,
			Created: slices.Contains(created, id),
		})
	}
	return res, nil
}

// pollIDs returns the ids of the polls b names, sorted and each once.
func pollIDs(b Batch) []string {
	ids := make([]string, 0, len(b.Creates)+len(b.States)+1)
	for _, c := range b.Creates {
		ids = append(ids, c.ID)
	}
	for _, v := range b.Votes {
		// Most batches hold one poll's votes in long runs: skip repeats
		// cheaply before the sort.
		if n := len(ids); n == 0 || ids[n-1] != v.Poll {
			ids = append(ids, v.Poll)
		}
	}
	for _, st := range b.States {
		ids = append(ids, st.Poll)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// dedupeCreates keeps the first create of each id.
func dedupeCreates(in []poll.Record) []poll.Record {
	if len(in) < 2 {
		return in
	}
	seen := make(map[string]bool, len(in))
	out := make([]poll.Record, 0, len(in))
	for _, r := range in {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b poll.Record) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func createArgs(creates []poll.Record) []any {
	var (
		ids, questions, hashes   []string
		at                       []time.Time
		optPolls, optIDs, labels []string
		positions                []int16
	)
	now := time.Now()
	for _, r := range creates {
		ids = append(ids, r.ID)
		questions = append(questions, r.Question)
		hashes = append(hashes, r.TokenHash)
		created := r.CreatedAt
		if created.IsZero() {
			created = now
		}
		at = append(at, created)
		for i, o := range r.Options {
			optPolls = append(optPolls, r.ID)
			optIDs = append(optIDs, o.ID)
			positions = append(positions, int16(i))
			labels = append(labels, o.Label)
		}
	}
	return []any{ids, questions, hashes, at, optPolls, optIDs, positions, labels}
}
