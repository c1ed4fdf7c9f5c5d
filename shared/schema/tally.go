package schema

import (
	"errors"
	"fmt"
	"time"

	"livevote/shared/tally"
)

// SelectTally reads the committed tally: one row per option, each with the
// version and its time. Scan its rows with ScanTally.
const SelectTally = `
SELECT v.version, v.updated_at, t.option, t.votes
FROM tally_version v CROSS JOIN tally t`

// ErrNoTally reports a database whose schema has not been applied.
var ErrNoTally = errors.New("schema: no tally in the database; schema not applied")

// Rows is the part of a driver's result set ScanTally reads (pgx.Rows has it).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// ScanTally reads the rows of SelectTally and closes them.
func ScanTally(rows Rows) (tally.Tally, error) {
	defer rows.Close()
	var (
		version int64
		at      time.Time
		counts  = make(map[string]int64, 2)
		found   bool
	)
	for rows.Next() {
		var option string
		var n int64
		if err := rows.Scan(&version, &at, &option, &n); err != nil {
			return tally.Tally{}, fmt.Errorf("reading tally: %w", err)
		}
		counts[option] = n
		found = true
	}
	if err := rows.Err(); err != nil {
		return tally.Tally{}, fmt.Errorf("reading tally: %w", err)
	}
	if !found {
		return tally.Tally{}, ErrNoTally
	}
	return tally.New(version, counts, at), nil
}
