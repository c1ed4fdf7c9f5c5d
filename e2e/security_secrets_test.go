package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecurityReadyzNamesOnlyTheDependency takes each dependency away
// from the servers, both ways it happens: a Redis and a NATS of the test's
// own killed under running servers, and URLs (carrying a user, a password
// and a database name) that point at a closed port from the start. /readyz
// answers 503 naming the dependency and nothing else: no host, port, user,
// database or password, no driver message. The refused vote says Redis is
// unreachable in the same terms, and no log line holds a password.
func TestSecurityReadyzNamesOnlyTheDependency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := &cluster{t: t, dir: t.TempDir()}
	c.redis, c.nats = c.newRedis(), c.newNATS()
	for _, s := range []*server{c.redis, c.nats} {
		s.up()
		t.Cleanup(s.kill)
	}
	closed := strconv.Itoa(freePort(t))
	const (
		user, db              = "secretuser", "secretdb"
		redisPW, pgPW, natsPW = "s3cretRedisPw", "s3cretPgPw", "s3cretNatsPw"
		badRedis              = "redis://" + user + ":" + redisPW + "@127.0.0.1:"
		badPG                 = "postgres://" + user + ":" + pgPW + "@127.0.0.1:"
		badNATS               = "nats://result:" + natsPW + "@127.0.0.1:"
		dbTail                = "/" + db + "?sslmode=disable"
	)
	secrets := []string{redisPW, pgPW, natsPW, c.natsPasswords["worker"], c.natsPasswords["result"]}

	// Up first (the schema migrated by a worker of the test's own), then
	// their dependency killed.
	e.start("worker").waitReady()
	voteLost := e.start("vote", "REDIS_URL="+c.redisURL())
	resultLost := e.start("result", "NATS_URL="+c.natsURLAs("result"))
	voteLost.waitReady()
	resultLost.waitReady()
	c.redis.kill()
	c.nats.kill()

	// Down from the start, behind URLs full of what must not be shown.
	voteBad := e.start("vote", "REDIS_URL="+badRedis+closed+"/0")
	resultBadPG := e.start("result", "DATABASE_URL="+badPG+closed+dbTail)
	resultBadNATS := e.start("result", "NATS_URL="+badNATS+closed)
	worker := e.start("worker", "REDIS_URL="+badRedis+closed+"/0", "DATABASE_URL="+badPG+closed+dbTail,
		"NATS_URL=nats://worker:"+natsPW+"@127.0.0.1:"+closed)

	addresses := []string{"127.0.0.1", "localhost", closed, strconv.Itoa(c.redis.port), strconv.Itoa(c.nats.port)}
	mustNotShow := append(append([]string{user, db, "dial", "refused", "tcp"}, secrets...), addresses...)
	tests := []struct {
		name string
		p    *proc
		want []string // the dependency /readyz may name
	}{
		{"vote, its Redis killed", voteLost, []string{"redis"}},
		{"result, its NATS killed", resultLost, []string{"nats"}},
		{"vote, Redis at a closed port", voteBad, []string{"redis"}},
		{"result, PostgreSQL at a closed port", resultBadPG, []string{"postgres"}},
		{"result, NATS at a closed port", resultBadNATS, []string{"nats"}},
		{"worker, everything at a closed port", worker, []string{"redis", "postgres", "nats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			var st struct {
				Failing string            `json:"failing"`
				Checks  map[string]string `json:"checks"`
			}
			waitFor(t, 20*time.Second, tt.p.name+" /readyz to answer 503", func() bool {
				var code int
				code, body, _ = request(t, nil, http.MethodGet, tt.p.url("/readyz"), "", "")
				return code == http.StatusServiceUnavailable && json.Unmarshal(body, &st) == nil && st.Failing != ""
			})
			if !slices.Contains(tt.want, st.Failing) {
				t.Errorf("/readyz names %q, want one of %v: %s", st.Failing, tt.want, body)
			}
			for name := range st.Checks {
				if !slices.Contains([]string{"redis", "postgres", "nats"}, name) {
					t.Errorf("/readyz checks %q, want dependency names only: %s", name, body)
				}
			}
			for _, s := range mustNotShow {
				if strings.Contains(string(body), s) {
					t.Errorf("/readyz shows %q: %s", s, body)
				}
			}
		})
	}

	t.Run("a vote while Redis is unreachable", func(t *testing.T) {
		code, body, _ := request(t, nil, http.MethodPost, voteBad.url("/api/vote"), "application/json", `{"vote":"a"}`)
		if code != http.StatusServiceUnavailable {
			t.Errorf("got %d %s, want 503", code, body)
		}
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.Error == "" {
			t.Errorf("got %s, want {\"error\":\"…\"}", body)
		}
		for _, s := range mustNotShow {
			if strings.Contains(string(body), s) {
				t.Errorf("the 503 shows %q: %s", s, body)
			}
		}
	})

	// The logs may name hosts for the operator, never a password.
	for _, p := range []*proc{voteLost, resultLost, voteBad, resultBadPG, resultBadNATS, worker} {
		for _, s := range secrets {
			if strings.Contains(p.out.String(), s) {
				t.Errorf("%s's log holds a password:\n%s", p.name, tail(p.out.String(), 10))
			}
		}
	}
}

// TestSecurityStartupErrorsKeepSecrets starts each binary with a bad
// setting that carries a password (unparseable ports, a password with an
// @, a password in the query string, a keyword/value connection string,
// a wrong scheme, a bad database number, a bad second NATS server): each
// stops at once with a non-zero exit and one line naming the variable,
// the password nowhere in it.
func TestSecurityStartupErrorsKeepSecrets(t *testing.T) {
	t.Parallel()
	const pw = "s3cretPw"
	tests := []struct {
		binaries []string
		key      string
		value    string
	}{
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u:" + pw + "@127.0.0.1:notaport/db"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u:" + pw + "@127.0.0.1:99999/db"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u:" + pw + "@@127.0.0.1:notaport/db"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u:" + pw + "@[::1/db"},
		{[]string{"worker", "result"}, "DATABASE_URL", "mysql://u:" + pw + "@127.0.0.1/db"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u:" + pw + "@127.0.0.1:5432/db?sslmode=bogus"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u@127.0.0.1:5432/db?password=" + pw + "&sslmode=bogus"},
		{[]string{"worker", "result"}, "DATABASE_URL", "postgres://u@127.0.0.1:notaport/db?password=" + pw},
		{[]string{"worker", "result"}, "DATABASE_URL", "host=127.0.0.1 port=notaport user=u password=" + pw},
		{[]string{"vote", "worker"}, "REDIS_URL", "redis://u:" + pw + "@127.0.0.1:notaport/0"},
		{[]string{"vote", "worker"}, "REDIS_URL", "redis://:" + pw + "@127.0.0.1:6379/notadb"},
		{[]string{"vote", "worker"}, "REDIS_URL", "redis://127.0.0.1:6379/notadb?password=" + pw},
		{[]string{"vote", "worker"}, "REDIS_URL", "http://:" + pw + "@127.0.0.1:6379/0"},
		{[]string{"worker", "result"}, "NATS_URL", "nats://worker:" + pw + "@127.0.0.1:notaport"},
		{[]string{"worker", "result"}, "NATS_URL", "nats://worker:" + pw + "@127.0.0.1:4222,nats://worker:" + pw + "@127.0.0.1:bad"},
		{[]string{"worker", "result"}, "NATS_URL", "http://worker:" + pw + "@127.0.0.1:4222"},
	}
	for _, tt := range tests {
		for _, bin := range tt.binaries {
			t.Run(bin+"/"+tt.key+"="+strings.ReplaceAll(tt.value, pw, "PW"), func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, filepath.Join(binDir, bin))
				cmd.Env = append(os.Environ(), "VOTE_ADDR=127.0.0.1:0", "WORKER_ADDR=127.0.0.1:0", "RESULT_ADDR=127.0.0.1:0",
					tt.key+"="+tt.value)
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if ctx.Err() != nil || !errors.As(err, &exit) {
					t.Fatalf("got %v, want a non-zero exit at once; output:\n%s", err, out)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if len(lines) != 1 {
					t.Errorf("got %d lines, want one:\n%s", len(lines), out)
				}
				if !strings.Contains(string(out), tt.key) {
					t.Errorf("%q does not name %s", strings.TrimSpace(string(out)), tt.key)
				}
				if strings.Contains(string(out), pw) {
					t.Errorf("the error shows the password: %s", out)
				}
			})
		}
	}
}
