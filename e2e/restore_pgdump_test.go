package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// restoreWithin is what the contract allows between the end of a restore
// and every page showing the database's tally.
const restoreWithin = 15 * time.Second

// backup saves what the test's database holds, and puts it back.
type backup struct {
	name    string
	save    func(t *testing.T)
	restore func(t *testing.T)
	// browser also follows the restore on a results page in Chromium.
	browser bool
}

// TestRestoreFromPgDumpCustom restores the test's schema from an older
// pg_dump (custom format) with pg_restore --clean while every process
// runs, as an operator would, statement by statement (no single
// transaction): the tables are dropped, created again and filled.
func TestRestoreFromPgDumpCustom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := baseDatabaseURL()
	file := filepath.Join(t.TempDir(), "backup.dump")
	runRestoreScenario(t, e, backup{
		name: "pg_restore --clean of a pg_dump -Fc",
		save: func(t *testing.T) {
			command(t, "pg_dump", "--format=custom", "--schema="+e.name, "--file="+file, base)
		},
		restore: func(t *testing.T) {
			command(t, "pg_restore", "--clean", "--if-exists", "--dbname="+base, file)
		},
		browser: true,
	})
}

// TestRestoreFromPgDumpIntoNewDatabase runs the system on a database of
// its own, then drops it (its connections with it), creates it again and
// loads an older plain pg_dump with psql in one transaction.
func TestRestoreFromPgDumpIntoNewDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := baseDatabaseURL()
	dbURL := ownDatabase(t, e, base)
	file := filepath.Join(t.TempDir(), "backup.sql")
	runRestoreScenario(t, e, backup{
		name: "dropdb, createdb, psql of a plain pg_dump",
		save: func(t *testing.T) {
			command(t, "pg_dump", "--format=plain", "--file="+file, dbURL)
		},
		restore: func(t *testing.T) {
			command(t, "psql", "--quiet", base, "-c", "DROP DATABASE "+e.name+" WITH (FORCE)", "-c", "CREATE DATABASE "+e.name)
			command(t, "psql", "--quiet", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--file="+file, dbURL)
		},
	})
}

// runRestoreScenario: votes in the default poll and another poll, a
// backup, more votes (versions grow), then the restore of the backup while
// everything runs. Within 15 s the result API, WebSocket clients opened
// before the restore and the vote page's server-rendered tally show the
// database's older tallies (lower versions, another epoch); then new votes
// show live, with versions still lower than before the restore.
func runRestoreScenario(t *testing.T, e *env, b backup) {
	result, _, vote := e.startAll()
	other := createPoll(t, vote, pollDefs(t)["three"])
	voters := make([]*voter, 6)
	for i := range voters {
		voters[i] = newVoter(t)
	}
	castDefault := func(v *voter, option string) {
		t.Helper()
		if code := v.vote(t, vote, option); code != http.StatusAccepted {
			t.Fatalf("vote %s in the default poll: got %d", option, code)
		}
	}
	castOther := func(v *voter, option string) {
		t.Helper()
		if code, body := v.votePoll(t, vote, other.ID, option); code != http.StatusAccepted {
			t.Fatalf("vote %s in %s: got %d %s", option, other.ID, code, body)
		}
	}
	castDefault(voters[0], "a")
	castDefault(voters[1], "b")
	castDefault(voters[2], "b")
	castOther(voters[0], "c")
	castOther(voters[1], "a")
	backedUpDefault := map[string]int64{"a": 1, "b": 2}
	backedUpOther := map[string]int64{"a": 1, "b": 0, "c": 1}
	defBackup := waitAPI(t, result, poll.DefaultID, backedUpDefault, "before the backup")
	otherBackup := waitAPI(t, result, other.ID, backedUpOther, "before the backup")
	waitVotePage(t, vote, other.ID, backedUpOther, "before the backup")
	b.save(t)

	// After the backup: more votes and changes of mind, each counted
	// before the next, so the versions grow well past the backup's.
	castDefault(voters[3], "a")
	waitAPI(t, result, poll.DefaultID, map[string]int64{"a": 2, "b": 2}, "after the backup")
	castDefault(voters[0], "b")
	waitAPI(t, result, poll.DefaultID, map[string]int64{"a": 1, "b": 3}, "after the backup")
	castDefault(voters[4], "a")
	defLater := waitAPI(t, result, poll.DefaultID, map[string]int64{"a": 2, "b": 3}, "after the backup")
	castOther(voters[2], "b")
	waitAPI(t, result, other.ID, map[string]int64{"a": 1, "b": 1, "c": 1}, "after the backup")
	castOther(voters[0], "b")
	waitAPI(t, result, other.ID, map[string]int64{"a": 1, "b": 2, "c": 0}, "after the backup")
	castOther(voters[3], "c")
	otherLater := waitAPI(t, result, other.ID, map[string]int64{"a": 1, "b": 2, "c": 1}, "after the backup")
	waitVotePage(t, vote, other.ID, map[string]int64{"a": 1, "b": 2, "c": 1}, "after the backup")
	if defLater.Version <= defBackup.Version || otherLater.Version <= otherBackup.Version {
		t.Fatalf("versions did not grow after the backup: default %d -> %d, %s %d -> %d",
			defBackup.Version, defLater.Version, other.ID, otherBackup.Version, otherLater.Version)
	}
	defSocket, otherSocket := dialSocket(t, result), dialPollSocket(t, result, other.ID)
	waitSocket(t, defSocket, "the default poll's socket before the restore", func(tl tally.Tally) bool { return tl.Version == defLater.Version })
	waitSocket(t, otherSocket, other.ID+"'s socket before the restore", func(tl tally.Tally) bool { return tl.Version == otherLater.Version })
	var page context.Context
	if b.browser {
		// The results page, live in Chromium: the tally JavaScript of the
		// page decides what it takes.
		page = newBrowser(t).tab(tabOptions{}, 2*time.Minute)
		navigate(t, page, result.url("/p/"+other.ID))
		waitPage(t, page, time.Now().Add(restoreWithin), "the results page live before the restore", otherLater.Version, otherLater.Counts)
		markNotReloaded(t, page)
	}

	b.restore(t)
	restored := time.Now()
	t.Logf("%s: restored", b.name)
	isBackup := func(want map[string]int64, version int64) func(tally.Tally) bool {
		return func(tl tally.Tally) bool {
			return sameCounts(tl, want) && tl.Version == version && tl.Epoch != defLater.Epoch && tl.Epoch != ""
		}
	}
	deadline := restored.Add(restoreWithin)
	waitUntil(t, deadline, "the result API to show the backup's tallies", func() bool {
		_, d := readPollTally(t, result, poll.DefaultID)
		_, o := readPollTally(t, result, other.ID)
		return isBackup(backedUpDefault, defBackup.Version)(d) && isBackup(backedUpOther, otherBackup.Version)(o)
	})
	waitUntil(t, deadline, "the open WebSocket clients to get the backup's tallies", func() bool {
		d, _ := defSocket.last()
		o, _ := otherSocket.last()
		return isBackup(backedUpDefault, defBackup.Version)(d) && isBackup(backedUpOther, otherBackup.Version)(o)
	})
	waitUntil(t, deadline, "the vote page to render the backup's tally", func() bool {
		got, ok := votePageCounts(t, vote, other.ID)
		return ok && fmt.Sprint(got) == fmt.Sprint(backedUpOther)
	})
	if page != nil {
		waitPage(t, page, deadline, "the open results page to show the backup's tally", otherBackup.Version, backedUpOther)
	}
	t.Logf("%s: every view showed the database's tallies %v after the restore", b.name, time.Since(restored).Round(time.Millisecond))
	if v1 := apiTally(t, result); !isBackup(backedUpDefault, defBackup.Version)(v1) {
		t.Errorf("version 1's /api/tally after the restore: got %+v, want the backup's", v1)
	}

	// The restored history goes on live: new votes count on the backup's
	// tallies, with versions below those before the restore.
	castDefault(voters[5], "a")
	castOther(voters[5], "b")
	afterDefault := map[string]int64{"a": 2, "b": 2}
	afterOther := map[string]int64{"a": 1, "b": 1, "c": 1}
	d := waitAPI(t, result, poll.DefaultID, afterDefault, "a vote after the restore")
	o := waitAPI(t, result, other.ID, afterOther, "a vote after the restore")
	if d.Version <= defBackup.Version || d.Version >= defLater.Version || o.Version <= otherBackup.Version || o.Version >= otherLater.Version {
		t.Errorf("versions after the restore: default %d, %s %d; want above the backup's (%d, %d) and below those before the restore (%d, %d)",
			d.Version, other.ID, o.Version, defBackup.Version, otherBackup.Version, defLater.Version, otherLater.Version)
	}
	waitSocket(t, defSocket, "the default poll's socket to show the vote after the restore", func(tl tally.Tally) bool {
		return sameCounts(tl, afterDefault) && tl.Version == d.Version
	})
	waitSocket(t, otherSocket, other.ID+"'s socket to show the vote after the restore", func(tl tally.Tally) bool {
		return sameCounts(tl, afterOther) && tl.Version == o.Version
	})
	waitVotePage(t, vote, other.ID, afterOther, "a vote after the restore")
	if page != nil {
		waitPage(t, page, time.Now().Add(restoreWithin), "the open results page to show the vote after the restore", o.Version, afterOther)
		checkNotReloaded(t, page, "results page")
	}
	if got := groupByNow(t, e.dbURL); fmt.Sprint(got) != fmt.Sprint(afterDefault) {
		t.Errorf("version 1's query on the restored database: got %v, want %v", got, afterDefault)
	}
	// What each socket got: the old history's versions, going up, then the
	// restored one's, going up from the backup's; never anything else.
	for _, s := range []*socket{defSocket, otherSocket} {
		msgs, raw := s.messages()
		var epochs []string
		var last int64
		for i, tl := range msgs {
			switch {
			case tl.Version < 0 || tl.Epoch == "":
				t.Errorf("socket message %s: not a tally of the database", raw[i])
			case len(epochs) == 0 || tl.Epoch != epochs[len(epochs)-1]:
				epochs = append(epochs, tl.Epoch)
			case tl.Version <= last:
				t.Errorf("socket message %s: version %d after %d in the same epoch", raw[i], tl.Version, last)
			}
			last = tl.Version
		}
		if len(epochs) != 2 {
			t.Errorf("a socket saw epochs %v, want the old one, then the restored one", epochs)
		}
	}
}

// groupByNow is version 1's query (the default poll's counts) on a new
// connection to dbURL: the restore may have closed the pool's.
func groupByNow(t *testing.T, dbURL string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{"a": 0, "b": 0}
	var v string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&v, &n}, func() error { got[v] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitAPI waits until the result API answers poll id's tally with want
// and returns it.
func waitAPI(t *testing.T, result *proc, id string, want map[string]int64, when string) tally.Tally {
	t.Helper()
	var tl tally.Tally
	waitFor(t, restoreWithin, fmt.Sprintf("%s's tally %v %s", id, want, when), func() bool {
		var code int
		code, tl = readPollTally(t, result, id)
		return code == http.StatusOK && sameCounts(tl, want)
	})
	return tl
}

// waitSocket waits until the socket's last tally satisfies ok.
func waitSocket(t *testing.T, s *socket, what string, ok func(tally.Tally) bool) {
	t.Helper()
	waitFor(t, restoreWithin, what, func() bool {
		tl, got := s.last()
		return got && ok(tl)
	})
}

// waitUntil is waitFor with a deadline shared by several waits.
func waitUntil(t *testing.T, deadline time.Time, what string, cond func() bool) {
	t.Helper()
	waitFor(t, max(time.Until(deadline), 0), what+" within "+restoreWithin.String()+" of the restore", cond)
}

// waitPage waits until the results page open in ctx renders version
// with counts (LiveTally.render marks the version on #results).
func waitPage(t *testing.T, ctx context.Context, deadline time.Time, what string, version int64, counts map[string]int64) {
	t.Helper()
	js := fmt.Sprintf(`(() => {
  const root = document.getElementById("results");
  if (!root || root.getAttribute("data-version") !== %q) return "";
  return [...root.querySelectorAll("[data-count]")].map(el => el.getAttribute("data-count") + "=" + el.textContent.trim()).sort().join(" ");
})()`, strconv.FormatInt(version, 10))
	want := make([]string, 0, len(counts))
	for _, o := range slices.Sorted(maps.Keys(counts)) {
		want = append(want, fmt.Sprintf("%s=%d", o, counts[o]))
	}
	var got string
	for {
		var err error
		got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err == nil && got == strings.Join(want, " ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the page shows %q (err %v), want version %d with %s", what, got, err, version, strings.Join(want, " "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitVotePage waits until the vote page of poll id renders want.
func waitVotePage(t *testing.T, vote *proc, id string, want map[string]int64, when string) {
	t.Helper()
	waitFor(t, restoreWithin, fmt.Sprintf("the vote page of %s to render %v %s", id, want, when), func() bool {
		got, ok := votePageCounts(t, vote, id)
		return ok && fmt.Sprint(got) == fmt.Sprint(want)
	})
}

var pageCount = regexp.MustCompile(`data-count="([a-l])">([0-9]+)<`)

// votePageCounts reads the counts the vote page of poll id renders on the
// server (from the worker's copy in Redis), and whether it renders any.
func votePageCounts(t *testing.T, vote *proc, id string) (map[string]int64, bool) {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodGet, vote.url("/p/"+id), "", "")
	if code != http.StatusOK {
		return nil, false
	}
	got := map[string]int64{}
	for _, m := range pageCount.FindAllSubmatch(body, -1) {
		n, _ := strconv.ParseInt(string(m[2]), 10, 64)
		got[string(m[1])] = n
	}
	return got, len(got) > 0
}

// baseDatabaseURL is the test database's address, as the PostgreSQL
// command-line tools take it.
func baseDatabaseURL() string {
	return getenvOr("TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// ownDatabase creates a database named after the env, points the env (the
// processes it starts and its pool) at it, and drops it when the test
// ends. It returns the database's URL.
func ownDatabase(t *testing.T, e *env, base string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+e.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+e.name+" WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + e.name
	e.dbURL = u.String()
	e.pool.Close()
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	return e.dbURL
}

// command runs a command-line tool and fails the test with its output
// when it fails.
func command(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (the PostgreSQL client tools, e.g. apt-get install postgresql-client): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
