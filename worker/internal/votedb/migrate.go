package votedb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotMigrated reports a Store whose schema Migrate has not applied yet.
var ErrNotMigrated = errors.New("votedb: schema not applied yet")

// Migrate creates or upgrades the schema to the newest migration and
// returns the versions it applied (none when the schema was current). It
// holds a PostgreSQL advisory lock while it works, so several workers
// starting at once apply each migration once; the others wait and find
// nothing left to do.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	// The lock is per schema, so installations (and tests) that share a
	// database but not a schema do not wait for one another.
	var schemaName string
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schemaName); err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	if schemaName == "" {
		return nil, errors.New("migrating: no schema on the search_path exists")
	}
	// goose probes the lock once per period (at least 1 s): a worker that
	// waits behind another's migration starts about a second later.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(schemaName)), lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	// The sql.DB borrows connections from the pool; closing it leaves the
	// pool open.
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	s.ready.Store(true)
	return applied, nil
}

// lockID is the advisory lock of migrations in schemaName.
func lockID(schemaName string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("livevote migrations " + schemaName))
	return int64(h.Sum64())
}

// Ping reports whether PostgreSQL answers and the schema is migrated: the
// worker is not ready before it can write a batch.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return err
	}
	if !s.ready.Load() {
		return ErrNotMigrated
	}
	return nil
}
