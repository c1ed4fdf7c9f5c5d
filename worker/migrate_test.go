package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/servicetest"
)

// TestMigrateCommand runs `worker migrate` on a fresh schema, then again:
// it applies the migrations, says so, and exits; the second run finds
// nothing to do.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin, err := pgxpool.New(ctx, url)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL at TEST_DATABASE_URL is unreachable: %v; start it with `make services`", err)
	}
	defer admin.Close()
	name := "test_cmd_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE") }()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	env := map[string]string{"DATABASE_URL": url + sep + "search_path=" + name}
	for i, want := range []struct{ msg, versions string }{{"schema migrated", "[1,2]"}, {"schema already current", ""}} {
		var out bytes.Buffer
		if err := run(ctx, []string{"worker", "migrate"}, func(k string) string { return env[k] }, &out); err != nil {
			t.Fatalf("run %d of worker migrate: %v\n%s", i+1, err, out.String())
		}
		line, ok := logLine(out.String(), want.msg)
		if !ok {
			t.Errorf("run %d of worker migrate logged\n%s\nwant a line %q", i+1, out.String(), want.msg)
		} else if got := string(line["versions"]); got != want.versions {
			t.Errorf("run %d of worker migrate: %q with versions %q, want %q", i+1, want.msg, got, want.versions)
		}
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('polls', 'poll_options', 'ballots')", name).Scan(&n); err != nil || n != 3 {
		t.Errorf("after worker migrate the schema has %d of the 3 tables (%v)", n, err)
	}
}

// TestMigrateCommandFails: a database it cannot reach, and arguments it
// does not know, end with an error that says what is wrong and carries no
// password.
func TestMigrateCommandFails(t *testing.T) {
	const password = "s3cretpassw0rd"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown argument", []string{"worker", "migrat"}, nil, `unknown arguments ["migrat"]; usage: worker [-version] [migrate | healthcheck]`},
		{"extra argument", []string{"worker", "migrate", "now"}, nil, `unknown arguments ["now"]; usage: worker migrate`},
		{"unreachable database", []string{"worker", "migrate"},
			map[string]string{"DATABASE_URL": "postgres://owner:" + password + "@" + servicetest.FreeAddr(t) + "/livevote?sslmode=disable&connect_timeout=2"},
			"migrating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error()+out.String(), password) {
				t.Errorf("the password is in the error or the log: %v\n%s", err, out.String())
			}
		})
	}
}

// logLine finds the JSON log line whose msg is msg, its fields undecoded.
func logLine(out, msg string) (map[string]json.RawMessage, bool) {
	for _, l := range strings.Split(out, "\n") {
		var m map[string]json.RawMessage
		var got string
		if json.Unmarshal([]byte(l), &m) == nil && json.Unmarshal(m["msg"], &got) == nil && got == msg {
			return m, true
		}
	}
	return nil, false
}
