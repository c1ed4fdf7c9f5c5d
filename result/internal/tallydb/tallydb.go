// Package tallydb reads the committed tally from PostgreSQL.
package tallydb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/schema"
	"livevote/shared/tally"
)

// Store is the tally in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// Migrate creates or upgrades the schema, so the result server can start
// before any worker; safe when several processes start at once.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, schema.SQL); err != nil {
		return fmt.Errorf("applying schema: %w", err)
	}
	return nil
}

// Current returns the committed tally.
func (s *Store) Current(ctx context.Context) (tally.Tally, error) {
	rows, err := s.pool.Query(ctx, schema.SelectTally)
	if err != nil {
		return tally.Tally{}, fmt.Errorf("reading tally: %w", err)
	}
	return schema.ScanTally(rows)
}

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}
