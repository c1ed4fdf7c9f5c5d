// Package schema holds the queries that read the committed tallies, shared
// by the worker (which announces them) and the result server (which serves
// them). The schema itself is created and migrated by the worker's
// numbered migrations only; the result server needs nothing but SELECT.
package schema

import (
	"errors"
	"fmt"
	"time"

	"livevote/shared/tally"
)

// SelectTallies reads the committed tallies of the polls whose ids are in
// $1 (text[]): one row per option, in poll and option order. Scan its
// rows with ScanTallies.
const SelectTallies = `
SELECT p.id, p.version, p.state, p.updated_at, o.option, o.votes
FROM polls p JOIN poll_options o ON o.poll = p.id
WHERE p.id = ANY($1::text[])
ORDER BY p.id, o.position`

// ErrNoSchema reports a database whose schema has not been migrated yet.
var ErrNoSchema = errors.New("schema: tables missing; the worker has not migrated the database yet")

// Rows is the part of a driver's result set ScanTallies reads (pgx.Rows
// has it).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// ScanTallies reads the rows of SelectTallies and closes them. A poll that
// does not exist is not in the answer.
func ScanTallies(rows Rows) (map[string]tally.Tally, error) {
	defer rows.Close()
	type acc struct {
		version int64
		state   string
		at      time.Time
		options []string
		counts  map[string]int64
	}
	var order []string
	polls := make(map[string]*acc)
	for rows.Next() {
		var (
			id, state, option string
			version, n        int64
			at                time.Time
		)
		if err := rows.Scan(&id, &version, &state, &at, &option, &n); err != nil {
			return nil, fmt.Errorf("reading tallies: %w", err)
		}
		a := polls[id]
		if a == nil {
			a = &acc{version: version, state: state, at: at, counts: make(map[string]int64)}
			polls[id] = a
			order = append(order, id)
		}
		a.options = append(a.options, option)
		a.counts[option] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading tallies: %w", err)
	}
	out := make(map[string]tally.Tally, len(polls))
	for _, id := range order {
		a := polls[id]
		out[id] = tally.New(id, a.version, a.options, a.counts, a.state, a.at)
	}
	return out, nil
}
