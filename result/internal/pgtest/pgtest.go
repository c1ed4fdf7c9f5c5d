// Package pgtest gives the result server's integration tests a PostgreSQL
// schema of their own in the test database (TEST_DATABASE_URL), with the
// tables the worker's migrations create, dropped when the test ends. The
// migrations are read from the worker's SQL files (their "-- +goose Up"
// parts), not by importing the worker, which the result server must not.
package pgtest

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// URL is the test database's address.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Pool returns a pool whose connections use a fresh schema; migrated says
// whether the worker's migrations are applied to it first.
func Pool(t testing.TB, migrated bool) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, URL())
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v; start it with `make services` or set TEST_DATABASE_URL", err)
	}
	t.Cleanup(admin.Close)
	name := "test_result_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE") })
	cfg, err := pgxpool.ParseConfig(URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if migrated {
		Migrate(t, pool)
	}
	return pool
}

// Migrate applies the "-- +goose Up" part of every migration file, in
// order, to pool's schema.
func Migrate(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, up := range UpMigrations(t) {
		// The simple protocol runs a file's statements in one call.
		if _, err := conn.Conn().PgConn().Exec(ctx, up).ReadAll(); err != nil {
			t.Fatalf("applying migration: %v", err)
		}
	}
}

// UpMigrations returns the "-- +goose Up" part of each file of
// worker/internal/votedb/migrations, in file order.
func UpMigrations(t testing.TB) []string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "..", "worker", "internal", "votedb", "migrations")
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in %s: %v", dir, err)
	}
	slices.Sort(files)
	var ups []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, up, ok := strings.Cut(string(b), "-- +goose Up")
		if !ok {
			t.Fatalf("%s has no -- +goose Up", f)
		}
		up, _, _ = strings.Cut(up, "-- +goose Down")
		ups = append(ups, up)
	}
	return ups
}

// CreatePoll inserts a poll with labels as options a, b, … and the given
// counts, version and state, as the worker would have committed it.
func CreatePoll(t testing.TB, pool *pgxpool.Pool, id, question string, labels []string, counts []int64, version int64, state string) {
	t.Helper()
	ctx := context.Background()
	if state == "" {
		state = "open"
	}
	if _, err := pool.Exec(ctx, `INSERT INTO polls (id, question, state, version) VALUES ($1, $2, $3, $4)`,
		id, question, state, version); err != nil {
		t.Fatal(err)
	}
	for i, l := range labels {
		var n int64
		if i < len(counts) {
			n = counts[i]
		}
		if _, err := pool.Exec(ctx, `INSERT INTO poll_options (poll, option, position, label, votes) VALUES ($1, $2, $3, $4, $5)`,
			id, string(rune('a'+i)), i, l, n); err != nil {
			t.Fatal(err)
		}
	}
}

// SetTally sets a poll's counts (option a first), version and state.
func SetTally(t testing.TB, pool *pgxpool.Pool, id string, counts []int64, version int64, state string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `UPDATE polls SET version = $2, state = $3, updated_at = now() WHERE id = $1`, id, version, state); err != nil {
		t.Fatal(err)
	}
	for i, n := range counts {
		if _, err := pool.Exec(ctx, `UPDATE poll_options SET votes = $3 WHERE poll = $1 AND option = $2`, id, string(rune('a'+i)), n); err != nil {
			t.Fatal(err)
		}
	}
}
