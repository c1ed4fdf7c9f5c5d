package e2e

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// roleDB is a database of its own with livevote's three PostgreSQL roles,
// made by deploy/postgres/roles.sh as compose makes them. Roles belong to
// the whole server, so these carry the test's suffix; database and roles
// are dropped when the test ends.
type roleDB struct {
	name  string
	admin *pgxpool.Pool     // the superuser, in the database
	super string            // the superuser's URL in the database
	urls  map[string]string // "migrate", "worker", "result" → DATABASE_URL
	pw    map[string]string // their passwords, which no output may show
	roles map[string]string // their role names
}

func newRoleDB(t *testing.T) *roleDB {
	t.Helper()
	ctx := context.Background()
	raw := getenvOr("TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable")
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	server, err := pgxpool.New(ctx, raw)
	if err == nil {
		err = server.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v; start it with `make services`", err)
	}
	suffix := strings.ToLower(rand.Text()[:10])
	d := &roleDB{name: "e2e_roles_" + suffix,
		urls: map[string]string{}, pw: map[string]string{}, roles: map[string]string{}}
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
	at := func(u *url.Userinfo) string {
		c := *base
		c.User = u
		c.Path = "/" + d.name
		return c.String()
	}
	d.super = at(base.User)
	for _, r := range []string{"migrate", "worker", "result"} {
		d.roles[r] = "e2e_" + r + "_" + suffix
		d.pw[r] = strings.ToLower(rand.Text())
		d.urls[r] = at(url.UserPassword(d.roles[r], d.pw[r]))
	}
	if d.admin, err = pgxpool.New(ctx, d.super); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.admin.Close)

	// roles.sh as compose's postgres-roles service runs it.
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatalf("psql (15 or later) runs deploy/postgres/roles.sh: %v; install postgresql-client", err)
	}
	cmd := exec.Command("sh", filepath.Join("..", "deploy", "postgres", "roles.sh"), d.super)
	cmd.Env = append(os.Environ(),
		"PG_MIGRATE_USER="+d.roles["migrate"], "PG_WORKER_USER="+d.roles["worker"], "PG_RESULT_USER="+d.roles["result"],
		"PG_MIGRATE_PASSWORD="+d.pw["migrate"], "PG_WORKER_PASSWORD="+d.pw["worker"], "PG_RESULT_PASSWORD="+d.pw["result"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("roles.sh: %v\n%s", err, out)
	}
	d.noPassword(t, "roles.sh's output", string(out))
	return d
}

// noPassword fails when text shows one of the roles' passwords.
func (d *roleDB) noPassword(t *testing.T, what, text string) {
	t.Helper()
	for r, pw := range d.pw {
		if strings.Contains(text, pw) {
			t.Errorf("%s shows the %s role's password", what, r)
		}
	}
}

// migrate runs `worker migrate` with DATABASE_URL as role and returns its
// output and exit error.
func (d *roleDB) migrate(t *testing.T, role string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "worker"), "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+d.urls[role])
	out, err := cmd.CombinedOutput()
	d.noPassword(t, "worker migrate as "+role, string(out))
	return string(out), err
}

// TestPostgresRoles runs the system as compose does, each process with its
// own PostgreSQL role, in a database of its own: a worker started as
// livevote_worker before the schema exists waits, not ready, and says why;
// `worker migrate` refuses that role and succeeds as the owner; the
// waiting worker then gets ready without a restart, and a vote reaches the
// result server, which reads as livevote_result.
func TestPostgresRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := newRoleDB(t)

	worker := e.start("worker", "DATABASE_URL="+d.urls["worker"])
	const refusal = "may not apply them"
	waitFor(t, 20*time.Second, "the worker to log why it cannot start", func() bool {
		return strings.Contains(worker.out.String(), refusal)
	})
	for _, line := range strings.Split(worker.out.String(), "\n") {
		if strings.Contains(line, refusal) && !strings.Contains(line, "worker migrate") {
			t.Errorf("the worker's line %s does not say to run `worker migrate`", line)
		}
	}
	time.Sleep(2 * time.Second) // a crash loop would have ended it by now
	select {
	case <-worker.done:
		t.Fatalf("the worker exited (%v) on a database it may not migrate, want it to wait", worker.err)
	default:
	}
	if code := status(t, worker.url("/readyz")); code != http.StatusServiceUnavailable {
		t.Errorf("the waiting worker's /readyz answered %d, want 503", code)
	}
	d.noPassword(t, "the worker's log", worker.out.String())

	out, err := d.migrate(t, "worker")
	if err == nil || !strings.Contains(out, refusal) {
		t.Errorf("worker migrate as the worker's role: %v\n%s\nwant a failure saying the role %s", err, out, refusal)
	}
	if out, err := d.migrate(t, "migrate"); err != nil || !strings.Contains(out, `"schema migrated"`) {
		t.Fatalf("worker migrate as the owner: %v\n%s", err, out)
	}
	if out, err := d.migrate(t, "migrate"); err != nil || !strings.Contains(out, `"schema already current"`) {
		t.Errorf("worker migrate again: %v\n%s\nwant success and nothing to do", err, out)
	}

	worker.waitReady()
	result := e.start("result", "DATABASE_URL="+d.urls["result"])
	vote := e.start("vote")
	result.waitReady()
	vote.waitReady()
	want := map[string]int64{"a": 1, "b": 2}
	for _, o := range []string{"a", "b", "b"} {
		if code := newVoter(t).vote(t, vote, o); code != http.StatusAccepted {
			t.Fatalf("vote %s answered %d, want 202", o, code)
		}
	}
	waitFor(t, 15*time.Second, "the votes on /api/tally", func() bool { return sameCounts(apiTally(t, result), want) })
	var n int
	if err := d.admin.QueryRow(context.Background(), "SELECT count(*) FROM ballots").Scan(&n); err != nil || n != 3 {
		t.Errorf("the worker's role stored %d ballots (%v), want 3", n, err)
	}
	d.noPassword(t, "the result server's log", result.out.String())
}

// status is the HTTP status a GET of u answers.
func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
