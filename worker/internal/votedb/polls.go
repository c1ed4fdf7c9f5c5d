package votedb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"livevote/shared/poll"
	"livevote/shared/schema"
	"livevote/shared/tally"
)

// selectRecent reads, in one query, the tallies of the polls whose tally
// changed since $1 ago, in the row shape of schema.SelectTallies.
const selectRecent = `
SELECT p.id, p.version, p.state, p.updated_at, o.option, o.votes, ` + schema.Epoch + `
FROM polls p JOIN poll_options o ON o.poll = p.id
WHERE p.updated_at > now() - $1::interval
ORDER BY p.id, o.position`

// Recent returns the tallies of the polls whose tally changed within the
// last d: what subscribers cut off from NATS with the worker may have
// missed.
func (s *Store) Recent(ctx context.Context, d time.Duration) ([]tally.Tally, error) {
	rows, err := s.pool.Query(ctx, selectRecent, d)
	if err != nil {
		return nil, fmt.Errorf("reading recent tallies: %w", err)
	}
	m, err := schema.ScanTallies(rows)
	if err != nil {
		return nil, err
	}
	out := make([]tally.Tally, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	return out, nil
}

// Tallies returns the committed tallies of the polls ids that exist.
func (s *Store) Tallies(ctx context.Context, ids []string) (map[string]tally.Tally, error) {
	rows, err := s.pool.Query(ctx, schema.SelectTallies, ids)
	if err != nil {
		return nil, fmt.Errorf("reading tallies: %w", err)
	}
	return schema.ScanTallies(rows)
}

// Stored is a poll as PostgreSQL holds it: its record and its tally.
type Stored struct {
	Record poll.Record
	Tally  tally.Tally
	// StateAt is the stream id ("ms-n") of the close or reopen its state
	// comes from, "0-0" when it never had one.
	StateAt string
}

// selectPolls reads every poll but the default one (which the vote
// servers know from their settings) with its options and counts, and the
// database's epoch.
const selectPolls = `
SELECT p.id, p.question, p.state, coalesce(p.token_hash, ''), p.created_at, p.version, p.updated_at,
    array_agg(o.option ORDER BY o.position), array_agg(o.label ORDER BY o.position),
    array_agg(o.votes ORDER BY o.position), ` + schema.Epoch + `,
    p.state_seq_ms::text || '-' || p.state_seq_n::text
FROM polls p JOIN poll_options o ON o.poll = p.id
WHERE p.id <> $1
GROUP BY p.id
ORDER BY p.id`

// Polls returns every poll but the default one, for restoring the vote
// servers' copy.
func (s *Store) Polls(ctx context.Context) ([]Stored, error) {
	rows, err := s.pool.Query(ctx, selectPolls, poll.DefaultID)
	if err != nil {
		return nil, fmt.Errorf("reading polls: %w", err)
	}
	var (
		out            []Stored
		r              poll.Record
		version        int64
		updated        time.Time
		optIDs, labels []string
		counts         []int64
		epoch          string
		stateAt        string
	)
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Question, &r.State, &r.TokenHash, &r.CreatedAt,
		&version, &updated, &optIDs, &labels, &counts, &epoch, &stateAt}, func() error {
		rec := r
		rec.CreatedAt = r.CreatedAt.UTC()
		rec.Options = make([]poll.Option, len(optIDs))
		byID := make(map[string]int64, len(optIDs))
		for i := range optIDs {
			rec.Options[i] = poll.Option{ID: optIDs[i], Label: labels[i]}
			byID[optIDs[i]] = counts[i]
		}
		t := tally.New(rec.ID, version, optIDs, byID, rec.State, updated)
		t.Epoch = epoch
		out = append(out, Stored{Record: rec, Tally: t, StateAt: stateAt})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading polls: %w", err)
	}
	return out, nil
}

// selectExisting reads which of the ids $1 name a poll.
const selectExisting = `SELECT id FROM polls WHERE id = ANY($1::text[])`

// Existing returns which of the polls ids exist, in no particular order.
// Polls are never deleted, so an answer stays true.
func (s *Store) Existing(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, selectExisting, ids)
	if err != nil {
		return nil, fmt.Errorf("finding polls: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding polls: %w", err)
	}
	return out, nil
}

// selectEpoch reads the database's epoch.
const selectEpoch = `SELECT ` + schema.Epoch

// Epoch returns the database's epoch (schema.Epoch): a change means its
// history changed under the worker (a restore, another database).
func (s *Store) Epoch(ctx context.Context) (string, error) {
	var epoch string
	if err := s.pool.QueryRow(ctx, selectEpoch).Scan(&epoch); err != nil {
		return "", fmt.Errorf("reading the database's epoch: %w", err)
	}
	return epoch, nil
}
