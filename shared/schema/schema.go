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

// Epoch is an SQL expression (an uncorrelated scalar subquery, evaluated
// once per statement) naming the history of the database that holds the
// tallies: the first 12 hex digits of an MD5 of
//
//   - the cluster's system identifier (a new initdb changes it),
//   - the database's oid (a new or re-created database changes it),
//   - the file node of the polls table, found through search_path (a
//     restore that drops and re-creates the tables or truncates them,
//     such as pg_restore --clean or psql of a pg_dump --clean, gives it a
//     new file; so does a VACUUM FULL, which an operator can run to mark a
//     restore that kept the files),
//   - the timeline of the last checkpoint (a point-in-time recovery or a
//     promoted standby starts a new one, seen once its first checkpoint is
//     written).
//
// None of them changes while the system runs normally, so versions only
// go back when it changes. Every part is readable by a role without
// privileges.
//
// Each part is its own scalar subquery: as a join of the two functions and
// pg_database it cost ten times as much (~0.5 ms against ~50 µs).
const Epoch = `(SELECT left(md5(
    (SELECT system_identifier FROM pg_control_system())::text || '.' ||
    (SELECT oid FROM pg_database WHERE datname = current_database())::text || '.' ||
    pg_relation_filenode('polls')::text || '.' ||
    (SELECT timeline_id FROM pg_control_checkpoint())::text), 12))`

// SelectTallies reads the committed tallies of the polls whose ids are in
// $1 (text[]): one row per option, in poll and option order, each with the
// database's Epoch. Scan its rows with ScanTallies.
const SelectTallies = `
SELECT p.id, p.version, p.state, p.updated_at, o.option, o.votes, ` + Epoch + `
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

// ScanTallies reads the rows of SelectTallies (or of a query with its
// columns) and closes them. A poll that
// does not exist is not in the answer.
func ScanTallies(rows Rows) (map[string]tally.Tally, error) {
	defer rows.Close()
	type acc struct {
		version int64
		state   string
		epoch   string
		at      time.Time
		options []string
		counts  map[string]int64
	}
	var order []string
	polls := make(map[string]*acc)
	for rows.Next() {
		var (
			id, state, option, epoch string
			version, n               int64
			at                       time.Time
		)
		if err := rows.Scan(&id, &version, &state, &at, &option, &n, &epoch); err != nil {
			return nil, fmt.Errorf("reading tallies: %w", err)
		}
		a := polls[id]
		if a == nil {
			a = &acc{version: version, state: state, epoch: epoch, at: at, counts: make(map[string]int64)}
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
		t := tally.New(id, a.version, a.options, a.counts, a.state, a.at)
		t.Epoch = a.epoch
		out[id] = t
	}
	return out, nil
}
