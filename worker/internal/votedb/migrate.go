package votedb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotMigrated reports a Store whose schema Migrate has not applied yet.
var ErrNotMigrated = errors.New("votedb: schema not applied yet")

// ErrMayNotMigrate reports a schema that lacks migrations while the role
// connected may not apply them: one that only reads and writes rows, as
// deploy/postgres/roles.sql makes the worker's. The schema's owner migrates
// it (`worker migrate` with the owner's DATABASE_URL).
var ErrMayNotMigrate = errors.New("votedb: this role may not migrate the schema")

// insufficientPrivilege is PostgreSQL's SQLSTATE for "permission denied"
// and "must be owner of".
const insufficientPrivilege = "42501"

// Migrate creates or upgrades the schema to the newest migration and
// returns the versions it applied (none when the schema was current).
//
// It first reads which migrations the schema holds, with no lock and no
// DDL: a schema that is current is left alone, so a role that may only
// read and write rows starts on it. Otherwise it migrates holding a
// PostgreSQL advisory lock, so several workers starting at once apply each
// migration once; the others wait and find nothing left to do. A role
// without the privilege to migrate gets an error wrapping ErrMayNotMigrate.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	// The lock is per schema, so installations (and tests) that share a
	// database but not a schema do not wait for one another.
	var schemaName, role string
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(current_schema(), ''), current_user").Scan(&schemaName, &role); err != nil {
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
	pending, err := s.pending(ctx, p.ListSources())
	if err != nil {
		return nil, fmt.Errorf("migrating: reading the applied migrations in schema %s: %w", schemaName, err)
	}
	if len(pending) == 0 {
		s.ready.Store(true)
		return nil, nil
	}
	results, err := p.Up(ctx)
	if err != nil {
		if pg := (*pgconn.PgError)(nil); errors.As(err, &pg) && pg.Code == insufficientPrivilege {
			return nil, &mayNotMigrate{schema: schemaName, role: role, pending: pending, err: err}
		}
		return nil, fmt.Errorf("migrating: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	s.ready.Store(true)
	return applied, nil
}

// mayNotMigrate is ErrMayNotMigrate with what the operator needs to know.
type mayNotMigrate struct {
	schema, role string
	pending      []int64
	err          error // PostgreSQL's refusal
}

func (e *mayNotMigrate) Error() string {
	return fmt.Sprintf("migrating: schema %s lacks migrations %v and role %s may not apply them; "+
		"run `worker migrate` as the role that owns the schema: %v", e.schema, e.pending, e.role, e.err)
}

func (e *mayNotMigrate) Unwrap() []error { return []error{ErrMayNotMigrate, e.err} }

// pending returns the versions of sources that goose's table in the
// current schema does not record as applied (all of them when there is no
// such table), reading only: as goose itself counts them, any row of a
// version is that version applied.
func (s *Store) pending(ctx context.Context, sources []*goose.Source) ([]int64, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_tables
		WHERE schemaname = current_schema() AND tablename = $1)`, goose.DefaultTablename).Scan(&exists); err != nil {
		return nil, err
	}
	var applied []int64
	if exists {
		rows, err := s.pool.Query(ctx, "SELECT DISTINCT version_id FROM "+goose.DefaultTablename)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			applied = append(applied, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var pending []int64
	for _, src := range sources {
		if !slices.Contains(applied, src.Version) {
			pending = append(pending, src.Version)
		}
	}
	return pending, nil
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
