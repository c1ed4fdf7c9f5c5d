// Package votedb writes batches of votes to PostgreSQL and keeps the tally
// in the same transaction.
package votedb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/schema"
	"livevote/shared/tally"
)

// Store is the votes database.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// Migrate creates or upgrades the schema; safe when several processes
// start at once.
func (s *Store) Migrate(ctx context.Context) error {
	// No arguments, so pgx sends the script with the simple protocol: one
	// implicit transaction for all its statements.
	if _, err := s.pool.Exec(ctx, schema.SQL); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	return nil
}

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// lockTally makes batches from every worker commit one after another: the
// next statement's snapshot then holds every earlier batch, so the old
// votes it reads are the ones it replaces.
const lockTally = `SELECT version FROM tally_version FOR UPDATE`

// upsertVotes stores each voter's vote unless the row already holds one
// accepted later, and moves the counts by what actually changed; the version
// goes up only when a count did.
const upsertVotes = `
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS i(id, vote, seq_ms, seq_n)
), prev AS (
    SELECT v.id, v.vote FROM votes v JOIN input i ON i.id = v.id
), up AS (
    INSERT INTO votes AS v (id, vote, seq_ms, seq_n)
    SELECT id, vote, seq_ms, seq_n FROM input
    ON CONFLICT (id) DO UPDATE
        SET vote = EXCLUDED.vote, seq_ms = EXCLUDED.seq_ms, seq_n = EXCLUDED.seq_n
        WHERE (v.seq_ms, v.seq_n) < (EXCLUDED.seq_ms, EXCLUDED.seq_n)
    RETURNING v.id, v.vote
), delta AS (
    SELECT option, sum(d)::bigint AS d FROM (
        SELECT up.vote AS option, 1 AS d FROM up
        UNION ALL
        SELECT prev.vote, -1 FROM up JOIN prev ON prev.id = up.id
    ) changes
    GROUP BY option
    HAVING sum(d) <> 0
), counted AS (
    UPDATE tally t SET votes = t.votes + delta.d
    FROM delta WHERE t.option = delta.option
    RETURNING t.option
), versioned AS (
    UPDATE tally_version SET version = version + 1, updated_at = clock_timestamp()
    WHERE EXISTS (SELECT 1 FROM delta)
    RETURNING version
)
SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM versioned)`

// Result is what one Apply did.
type Result struct {
	// Tally is the tally after the batch committed.
	Tally tally.Tally
	// Changed counts the voters whose stored vote the batch replaced or added.
	Changed int
	// Bumped reports whether the tally got a new version.
	Bumped bool
}

// Apply stores a batch of votes in one transaction and returns the tally it
// committed. votes must hold at most one vote per voter (see Latest). A
// batch applied twice changes nothing the second time.
func (s *Store) Apply(ctx context.Context, votes []Vote) (Result, error) {
	ids := make([]string, len(votes))
	opts := make([]string, len(votes))
	ms := make([]int64, len(votes))
	ns := make([]int64, len(votes))
	for i, v := range votes {
		ids[i], opts[i] = v.VoterID, v.Option
		ms[i], ns[i] = int64(v.Seq.Ms), int64(v.Seq.N)
	}
	// A batch with no BEGIN runs as one implicit transaction that commits at
	// its end (PostgreSQL's pipeline rule), so all three statements cost one
	// round trip, and Close returns only after the commit.
	b := &pgx.Batch{}
	b.Queue(lockTally)
	b.Queue(upsertVotes, ids, opts, ms, ns)
	b.Queue(schema.SelectTally)
	br := s.pool.SendBatch(ctx, b)
	var res Result
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("locking tally: %w", err)
		}
		var bumped int
		if err := br.QueryRow().Scan(&res.Changed, &bumped); err != nil {
			return fmt.Errorf("upserting votes: %w", err)
		}
		res.Bumped = bumped > 0
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("reading tally: %w", err)
		}
		t, err := schema.ScanTally(rows)
		if err != nil {
			return err
		}
		res.Tally = t
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("committing batch: %w", cerr)
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Current returns the committed tally.
func (s *Store) Current(ctx context.Context) (tally.Tally, error) {
	rows, err := s.pool.Query(ctx, schema.SelectTally)
	if err != nil {
		return tally.Tally{}, fmt.Errorf("reading tally: %w", err)
	}
	return schema.ScanTally(rows)
}
