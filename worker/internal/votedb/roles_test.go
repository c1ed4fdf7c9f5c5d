package votedb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/poll"
	"livevote/shared/schema"
)

// rolesSQL is the file compose runs (through roles.sh) to make the roles.
const rolesSQL = "../../../deploy/postgres/roles.sql"

// psqlVar is psql's :'name', the only form of variable roles.sql uses.
var psqlVar = regexp.MustCompile(`:'([A-Za-z_][A-Za-z0-9_]*)'`)

// substitute does what psql -v does to roles.sql: each :'name' becomes
// vars[name] as an SQL literal.
func substitute(sql string, vars map[string]string) (string, error) {
	var missing []string
	out := psqlVar.ReplaceAllStringFunc(sql, func(m string) string {
		name := psqlVar.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("roles.sql uses variables %v that were not given", missing)
	}
	return out, nil
}

// roleDB is a database of its own in which roles.sql has made the three
// roles. Roles belong to the whole server, so theirs carry a suffix of the
// test's; they are dropped with the database when the test ends.
type roleDB struct {
	t     *testing.T
	name  string
	base  *pgxpool.Config // the test server's superuser, in this database
	admin *pgxpool.Pool   // that superuser
	roles map[string]string
	pw    map[string]string
}

func newRoleDB(t *testing.T) *roleDB {
	t.Helper()
	ctx := context.Background()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	server, err := pgxpool.New(ctx, url)
	if err == nil {
		err = server.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v; start it with `make services`", err)
	}
	suffix := strings.ToLower(rand.Text()[:10])
	d := &roleDB{t: t, name: "test_roles_" + suffix,
		roles: map[string]string{}, pw: map[string]string{}}
	for _, r := range []string{"migrate", "worker", "result"} {
		d.roles[r] = "test_" + r + "_" + suffix
		d.pw[r] = strings.ToLower(rand.Text())
	}
	if _, err := server.Exec(ctx, "CREATE DATABASE "+d.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := server.Exec(ctx, "DROP DATABASE "+d.name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", d.name, err)
		}
		for _, r := range d.roles {
			if _, err := server.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
				t.Errorf("dropping role %s: %v", r, err)
			}
		}
		server.Close()
	})
	if d.base, err = pgxpool.ParseConfig(url); err != nil {
		t.Fatal(err)
	}
	d.base.ConnConfig.Database = d.name
	if d.admin, err = pgxpool.NewWithConfig(ctx, d.base.Copy()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.admin.Close)
	return d
}

// vars are roles.sql's variables for this database's roles.
func (d *roleDB) vars() map[string]string {
	v := map[string]string{}
	for r, name := range d.roles {
		v[r+"_role"] = name
		v[r+"_password"] = d.pw[r]
	}
	return v
}

// applyRoles runs roles.sql with vars, as the superuser, in the database.
func (d *roleDB) applyRoles(vars map[string]string) error {
	d.t.Helper()
	b, err := os.ReadFile(rolesSQL)
	if err != nil {
		d.t.Fatal(err)
	}
	sql, err := substitute(string(b), vars)
	if err != nil {
		d.t.Fatal(err)
	}
	conn, err := d.admin.Acquire(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	defer conn.Release()
	// The simple protocol runs the file's statements in one call.
	_, err = conn.Conn().PgConn().Exec(context.Background(), sql).ReadAll()
	return err
}

// as returns a pool connected as role ("migrate", "worker", "result").
func (d *roleDB) as(role string) *pgxpool.Pool {
	d.t.Helper()
	cfg := d.base.Copy()
	cfg.ConnConfig.User, cfg.ConnConfig.Password = d.roles[role], d.pw[role]
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(pool.Close)
	return pool
}

// sqlState is err's SQLSTATE, or "" when it is not PostgreSQL's.
func sqlState(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

// TestRolesLeastPrivilege makes the roles in a fresh database and shows
// what each may do: the worker's role cannot migrate (and says so), the
// owner migrates, then the worker's role starts without DDL, applies a
// batch and changes no table; the result server's role reads the tallies
// and writes nothing; a table of a later migration is granted the same.
func TestRolesLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newRoleDB(t)
	if err := d.applyRoles(d.vars()); err != nil {
		t.Fatalf("roles.sql: %v", err)
	}
	owner, workerPool, resultPool := d.as("migrate"), d.as("worker"), d.as("result")

	// The worker's role on an empty database: a clear refusal, not ready,
	// and nothing created.
	w := New(workerPool)
	_, err := w.Migrate(ctx)
	if !errors.Is(err, ErrMayNotMigrate) || sqlState(err) != insufficientPrivilege {
		t.Fatalf("Migrate as the worker's role on an empty database: got %v, want ErrMayNotMigrate with SQLSTATE 42501", err)
	}
	for _, want := range []string{d.roles["worker"], "[1 2]", "worker migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not name %q", err, want)
		}
	}
	if err := w.Ping(ctx); !errors.Is(err, ErrNotMigrated) {
		t.Errorf("Ping after the refusal: got %v, want ErrNotMigrated", err)
	}
	if n := relations(t, d.admin); len(n) != 0 {
		t.Errorf("the refused Migrate left relations %v", n)
	}

	applied, err := New(owner).Migrate(ctx)
	if err != nil || !slices.Equal(applied, []int64{1, 2}) {
		t.Fatalf("Migrate as the owner: applied %v, %v; want [1 2]", applied, err)
	}
	for rel, o := range relations(t, d.admin) {
		if o != d.roles["migrate"] {
			t.Errorf("%s is owned by %s, want the migrating role %s", rel, o, d.roles["migrate"])
		}
	}

	// The schema is current: the worker's role starts without waiting
	// for the migration lock (held here by another session), so without
	// goose's Up and its DDL.
	lockConn, err := d.admin.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Release()
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID("public")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	applied, err = w.Migrate(wctx)
	cancel()
	if err != nil || len(applied) != 0 {
		t.Fatalf("Migrate as the worker's role on a current schema: applied %v, %v; want nothing, no error", applied, err)
	}
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockID("public")); err != nil {
		t.Fatal(err)
	}
	if err := w.Ping(ctx); err != nil {
		t.Errorf("Ping as the worker's role after Migrate: %v", err)
	}

	res, err := w.Apply(ctx, Batch{
		Creates: []poll.Record{record(t, "roles", "Yes", "No")},
		Votes:   []Vote{vote("roles", "v1", "a", 10), vote("roles", "v2", "b", 11), vote(poll.DefaultID, "v3", "b", 12)},
	})
	if err != nil {
		t.Fatalf("Apply as the worker's role: %v", err)
	}
	if len(res.Polls) != 2 {
		t.Errorf("Apply as the worker's role changed %d polls, want 2", len(res.Polls))
	}
	wantCounts := map[string]int64{"a": 1, "b": 1}
	readTallies := func() map[string]int64 {
		t.Helper()
		rows, err := resultPool.Query(ctx, schema.SelectTallies, []string{"roles"})
		if err != nil {
			t.Fatalf("schema.SelectTallies as the result server's role: %v", err)
		}
		got, err := schema.ScanTallies(rows)
		if err != nil {
			t.Fatalf("schema.SelectTallies as the result server's role: %v", err)
		}
		return got["roles"].Counts
	}
	if got := readTallies(); !maps.Equal(got, wantCounts) {
		t.Errorf("the result server's role reads %v, want %v", got, wantCounts)
	}

	checkRefusals(t, workerPool, resultPool)
	if got := readTallies(); !maps.Equal(got, wantCounts) {
		t.Errorf("after the refused statements the tally is %v, want %v unchanged", got, wantCounts)
	}

	// A later migration's table: the default privileges grant it.
	if _, err := owner.Exec(ctx, "CREATE TABLE later (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := workerPool.Exec(ctx, "INSERT INTO later VALUES (1, 'x')"); err != nil {
		t.Errorf("the worker's role on a later migration's table: INSERT: %v", err)
	}
	var n int
	if err := resultPool.QueryRow(ctx, "SELECT count(*) FROM later").Scan(&n); err != nil || n != 1 {
		t.Errorf("the result server's role on a later migration's table: SELECT count(*) = %d, %v; want 1", n, err)
	}
	if _, err := resultPool.Exec(ctx, "INSERT INTO later VALUES (2, 'y')"); sqlState(err) != insufficientPrivilege {
		t.Errorf("the result server's role on a later migration's table: INSERT got %v, want 42501", err)
	}
}

// TestRolesOnAnInstalledDatabase: a database a superuser migrated before
// the roles existed (compose's volume from an earlier version) keeps its
// votes; roles.sql hands its tables to the migrating role, so that later
// migrations may alter them, and grants them; running it again changes
// nothing.
func TestRolesOnAnInstalledDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newRoleDB(t)
	super := New(d.admin)
	if _, err := super.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := super.Apply(ctx, Batch{Votes: []Vote{vote(poll.DefaultID, "old", "a", 1)}}); err != nil {
		t.Fatal(err)
	}
	if err := d.applyRoles(d.vars()); err != nil {
		t.Fatalf("roles.sql on an installed database: %v", err)
	}
	before := privileges(t, d.admin)
	for rel, o := range relations(t, d.admin) {
		if o != d.roles["migrate"] {
			t.Errorf("%s is owned by %s, want the migrating role %s (roles.sql's list of tables misses it)", rel, o, d.roles["migrate"])
		}
	}
	if err := d.applyRoles(d.vars()); err != nil {
		t.Fatalf("roles.sql run again: %v", err)
	}
	if after := privileges(t, d.admin); !maps.Equal(after, before) {
		t.Errorf("running roles.sql again changed the privileges:\nbefore %v\nafter  %v", before, after)
	}

	workerPool, resultPool := d.as("worker"), d.as("result")
	checkRefusals(t, workerPool, resultPool)
	w := New(workerPool)
	if applied, err := w.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Fatalf("Migrate as the worker's role: applied %v, %v; want nothing, no error", applied, err)
	}
	if _, err := w.Apply(ctx, Batch{Votes: []Vote{vote(poll.DefaultID, "new", "b", 2)}}); err != nil {
		t.Fatalf("Apply as the worker's role: %v", err)
	}
	rows, err := resultPool.Query(ctx, schema.SelectTallies, []string{poll.DefaultID})
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.ScanTallies(rows)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"a": 1, "b": 1}; !maps.Equal(got[poll.DefaultID].Counts, want) {
		t.Errorf("the result server's role reads %v, want %v (the old vote and the new)", got[poll.DefaultID].Counts, want)
	}
	// What a later migration does to a table of migration 2.
	tx, err := d.as("migrate").Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "ALTER TABLE ballots ADD COLUMN later int"); err != nil {
		t.Errorf("the migrating role altering migration 2's table: %v", err)
	}
}

// TestRolesSQLRefusesBadInput: each bad value stops roles.sql with an
// error naming it, and nothing changes: no role is created, an existing
// superuser stays one, the schema keeps its privileges.
func TestRolesSQLRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newRoleDB(t)
	var superuser string
	if err := d.admin.QueryRow(ctx, "SELECT current_user").Scan(&superuser); err != nil {
		t.Fatal(err)
	}
	before := privileges(t, d.admin)
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"empty password", map[string]string{"worker_password": ""}, "worker_password"},
		{"empty role name", map[string]string{"result_role": ""}, "result_role is empty"},
		{"two roles of one name", map[string]string{"result_role": d.roles["worker"]}, "three names"},
		{"a superuser as the worker", map[string]string{"worker_role": superuser}, "administrative rights"},
		{"a superuser as the owner", map[string]string{"migrate_role": superuser}, "administrative rights"},
	}
	for _, tt := range tests {
		vars := d.vars()
		maps.Copy(vars, tt.set)
		err := d.applyRoles(vars)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
	var n int
	if err := d.admin.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
		slices.Collect(maps.Values(d.roles))).Scan(&n); err != nil || n != 0 {
		t.Errorf("after the refusals %d of the roles exist (%v), want none", n, err)
	}
	var super bool
	if err := d.admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", superuser).Scan(&super); err != nil || !super {
		t.Errorf("%s is superuser %v after the refusals (%v), want still one", superuser, super, err)
	}
	if after := privileges(t, d.admin); !maps.Equal(after, before) {
		t.Errorf("the refusals changed privileges:\nbefore %v\nafter  %v", before, after)
	}
}

// checkRefusals runs, as the worker's and as the result server's role,
// what each must not do: PostgreSQL must refuse each with 42501.
func checkRefusals(t *testing.T, workerPool, resultPool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	refused := []struct {
		role string
		pool *pgxpool.Pool
		sql  string
	}{
		{"worker", workerPool, "CREATE TABLE intruder (id int)"},
		{"worker", workerPool, "DROP TABLE ballots"},
		{"worker", workerPool, "ALTER TABLE polls ADD COLUMN intruder int"},
		{"worker", workerPool, "CREATE INDEX intruder ON ballots (vote)"},
		{"worker", workerPool, "DELETE FROM ballots"},
		{"worker", workerPool, "TRUNCATE ballots"},
		{"result", resultPool, "INSERT INTO polls (id, question) VALUES ('intruder', 'Forged?')"},
		{"result", resultPool, "UPDATE poll_options SET votes = votes + 1000"},
		{"result", resultPool, "DELETE FROM ballots"},
		{"result", resultPool, "SELECT id FROM polls FOR UPDATE"},
		{"result", resultPool, "TRUNCATE ballots"},
		{"result", resultPool, "CREATE TABLE intruder (id int)"},
		{"result", resultPool, "DROP TABLE ballots"},
	}
	for _, tt := range refused {
		_, err := tt.pool.Exec(ctx, tt.sql)
		if got := sqlState(err); got != insufficientPrivilege {
			t.Errorf("as the %s role, %s: got %v (SQLSTATE %q), want permission denied (42501)", tt.role, tt.sql, err, got)
		}
	}
}

// relations maps each table, view and sequence of the schema public to its
// owner.
func relations(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname, pg_get_userbyid(c.relowner)
		FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var rel, owner string
		if err := rows.Scan(&rel, &owner); err != nil {
			t.Fatal(err)
		}
		out[rel] = owner
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// privileges maps the schema public, each relation in it and the default
// privileges to their access lists.
func privileges(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'schema public', coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'public'
		UNION ALL
		SELECT c.relname, coalesce(c.relacl::text, '') FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT 'default ' || defaclobjtype::text, defaclacl::text FROM pg_default_acl`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
