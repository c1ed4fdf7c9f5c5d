package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livevote/shared/servicetest"
	"livevote/shared/tally"
)

// natsCLI finds the real `nats` command-line tool (natscli), the one a
// stranger would try the system with: NATS_CLI, else `nats` on PATH, else
// the copy `make test` installs into .data/bin.
func natsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NATS_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../.data/bin/nats"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the nats CLI is not installed: `make test` installs it into .data/bin; " +
		"or GOBIN=$PWD/.data/bin go install github.com/nats-io/natscli/nats@v0.5.0, or set NATS_CLI")
	return ""
}

// natsCLIEnv is the environment the CLI runs in: a home of its own (no
// saved context of this machine's user) and no NATS_* variable, so that
// only the flags say where it connects and as whom.
func natsCLIEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home}
}

// natsCLIRun runs the CLI against server with the given user and password
// ("" for none) and returns its combined output and exit error.
func natsCLIRun(t *testing.T, server, user, password string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := []string{"--server", server, "--timeout", "3s"}
	if user != "" {
		full = append(full, "--user", user)
	}
	if password != "" {
		full = append(full, "--password", password)
	}
	cmd := exec.CommandContext(ctx, natsCLI(t), append(full, args...)...)
	cmd.Env = natsCLIEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ownNATS starts a NATS of the test's own from nats.conf, with passwords
// made up for it (natsPasswords), as make run and compose run it.
func ownNATS(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	c.nats = c.newNATS()
	c.nats.up()
	t.Cleanup(c.nats.kill)
	return c
}

// tallyJSON writes a tally object by hand, so that it may be one that
// cannot be true.
func tallyJSON(pollID string, version int64, counts string, total int64) string {
	return fmt.Sprintf(`{"poll":%q,"version":%d,"counts":{%s},"total":%d,"state":"open","updated_at":"2026-11-26T19:30:00Z"}`,
		pollID, version, counts, total)
}

// TestSecurityForgedTallyNATSCLI tries to forge the default poll's tally
// with the real `nats` CLI against a NATS run from nats.conf, the way a
// stranger who reaches the NATS port would: without credentials, as the
// result server's user, with wrong or missing passwords. Each try is
// refused by NATS. Tallies that cannot be true (a total that is not the
// sum, an overflow, a negative count, another poll's subject) or that the
// database cannot have made (a version 2^20 or more beyond its own, the
// review's 2^63-1, another database history's epoch) are refused by the
// result server even when they come with the worker's own credentials. Nothing forged is ever shown: the tally API, open
// WebSockets, the results page and an anonymous `nats sub` keep the
// database's tally, and a real vote afterwards still shows live.
func TestSecurityForgedTallyNATSCLI(t *testing.T) {
	t.Parallel()
	natsCLI(t)
	c := ownNATS(t)
	e := newEnv(t)
	e.natsURL, e.workerNATS, e.resultNATS = c.natsURL(), c.natsURLAs("worker"), c.natsURLAs("result")
	// The contract's default subject, the one a stranger would try.
	const subject = "tally.changed"
	result := e.start("result", "TALLY_SUBJECT="+subject)
	worker := e.start("worker", "TALLY_SUBJECT="+subject)
	vote := e.start("vote")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}

	// `nats sub` without credentials, as the README tells viewers to watch
	// the tallies: it must work, and must never print a forgery.
	subCtx, stopSub := context.WithCancel(context.Background())
	sub := exec.CommandContext(subCtx, natsCLI(t), "--server", c.natsURL(), "sub", subject+".>")
	sub.Env = natsCLIEnv(t)
	subOut := &servicetest.LockedBuffer{}
	sub.Stdout, sub.Stderr = subOut, subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopSub(); _ = sub.Wait() })
	waitFor(t, 10*time.Second, "`nats sub` to subscribe", func() bool { return strings.Contains(subOut.String(), "Subscribing on") })

	for i, o := range []string{"a", "a", "b"} {
		if code := newVoter(t).vote(t, vote, o); code != http.StatusAccepted {
			t.Fatalf("vote %d answered %d, want 202", i, code)
		}
	}
	isThree := func(tl tally.Tally) bool { return sameCounts(tl, map[string]int64{"a": 2, "b": 1}) }
	waitFor(t, 15*time.Second, "the three votes at the result server", func() bool { return isThree(apiTally(t, result)) })
	before := apiTally(t, result)
	wsDefault := dialSocket(t, result)
	wsPoll := dialPollSocket(t, result, "default")
	waitFor(t, 5*time.Second, "the current tally on both WebSockets", func() bool {
		a, okA := wsDefault.last()
		b, okB := wsPoll.last()
		return okA && okB && isThree(a) && isThree(b)
	})

	const forgedTotal = 1_000_000
	maxVersion := tallyJSON("default", math.MaxInt64, fmt.Sprintf(`"a":%d,"b":0`, forgedTotal), forgedTotal)
	pw := c.natsPasswords
	server := c.natsURL()
	refusals := []struct {
		name, user, password, subject, wantErr string
	}{
		{"no credentials, the default poll's subject", "", "", subject, "Permissions Violation"},
		{"no credentials, the poll's own subject", "", "", subject + ".default", "Permissions Violation"},
		{"as result, with its password", "result", pw["result"], subject + ".default", "Permissions Violation"},
		{"as worker, a wrong password", "worker", "wrong", subject + ".default", "Authorization Violation"},
		{"as worker, the result user's password", "worker", pw["result"], subject + ".default", "Authorization Violation"},
		{"as worker, no password", "worker", "", subject + ".default", "Authorization Violation"},
		{"as result, a wrong password", "result", "wrong", subject + ".default", "Authorization Violation"},
		{"as anonymous, by name", "anonymous", "anything", subject + ".default", "Authorization Violation"},
	}
	for _, tt := range refusals {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			out, err := natsCLIRun(t, server, tt.user, tt.password, "pub", tt.subject, maxVersion)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("nats pub %s: got exit error %v, want a non-zero exit; output:\n%s", tt.subject, err, out)
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Errorf("nats pub %s: output %q, want it to say %q", tt.subject, strings.TrimSpace(out), tt.wantErr)
			}
			if strings.Contains(out, "Published") {
				t.Errorf("nats pub %s says it published: %q", tt.subject, strings.TrimSpace(out))
			}
		})
	}

	// With the worker's own credentials NATS lets anything through: the
	// result server is the last line, and refuses tallies that cannot be
	// true.
	impossible := []struct{ name, subject, body string }{
		{"total not the sum", subject + ".default", tallyJSON("default", before.Version+1, `"a":5,"b":5`, 999)},
		{"counts that overflow", subject + ".default", tallyJSON("default", before.Version+1, fmt.Sprintf(`"a":%d,"b":1`, int64(math.MaxInt64)), math.MinInt64)},
		{"a negative count", subject + ".default", tallyJSON("default", before.Version+1, `"a":-5,"b":1004`, 999)},
		{"a negative version", subject + ".default", tallyJSON("default", -1, `"a":999,"b":0`, 999)},
		{"the default poll's tally on another poll's subject", subject + ".other", tallyJSON("default", before.Version+1, `"a":999,"b":0`, 999)},
		{"not JSON", subject + ".default", "999 votes for a"},
	}
	invalidBefore := metric(t, result, "result_tallies_invalid_total")
	for _, tt := range impossible {
		t.Run("impossible/"+tt.name, func(t *testing.T) {
			out, err := natsCLIRun(t, server, "worker", pw["worker"], "pub", tt.subject, tt.body)
			if err != nil {
				t.Fatalf("nats pub as worker: %v\n%s", err, out)
			}
		})
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("the result server to count %d invalid tallies", len(impossible)), func() bool {
		return metric(t, result, "result_tallies_invalid_total")-invalidBefore == float64(len(impossible))
	})

	// Well-formed tallies the database cannot have made, with the worker's
	// credentials: a version far beyond the last one read from PostgreSQL
	// (the review's 2^63-1 among them), or another database history's
	// epoch. The result server refuses them too.
	withEpoch := func(body, epoch string) string {
		return strings.TrimSuffix(body, "}") + fmt.Sprintf(`,"epoch":%q}`, epoch)
	}
	unbelievable := []struct{ name, reason, body string }{
		{"version 2^63-1", "ahead", withEpoch(tallyJSON("default", math.MaxInt64, `"a":999,"b":0`, 999), before.Epoch)},
		{"version 2^20+1 beyond the database's", "ahead", withEpoch(tallyJSON("default", before.Version+1<<20+1, `"a":999,"b":0`, 999), before.Epoch)},
		{"another database history", "epoch", withEpoch(tallyJSON("default", before.Version+1, `"a":999,"b":0`, 999), "0123456789ab")},
		{"no epoch", "epoch", tallyJSON("default", before.Version+1, `"a":999,"b":0`, 999)},
	}
	refusedBefore := map[string]float64{}
	wantRefused := map[string]float64{}
	for _, tt := range unbelievable {
		series := fmt.Sprintf(`result_tallies_refused_total{reason=%q}`, tt.reason)
		if _, ok := refusedBefore[tt.reason]; !ok {
			refusedBefore[tt.reason] = metricOr0(t, result, series)
		}
		wantRefused[tt.reason]++
		t.Run("unbelievable/"+tt.name, func(t *testing.T) {
			out, err := natsCLIRun(t, server, "worker", pw["worker"], "pub", subject+".default", tt.body)
			if err != nil {
				t.Fatalf("nats pub as worker: %v\n%s", err, out)
			}
		})
	}
	for reason, n := range wantRefused {
		series := fmt.Sprintf(`result_tallies_refused_total{reason=%q}`, reason)
		waitFor(t, 10*time.Second, fmt.Sprintf("the result server to refuse %v tallies as %s", n, reason), func() bool {
			return metricOr0(t, result, series)-refusedBefore[reason] == n
		})
	}

	// Nothing of that is shown: the database's tally stays.
	forged := func(tl tally.Tally) bool {
		return tl.Version == math.MaxInt64 || tl.Version < 0 || tl.Total == forgedTotal || tl.Total == 999 || tl.Counts["a"] < 0
	}
	if tl := apiTally(t, result); tl.Version != before.Version || !isThree(tl) {
		t.Errorf("/api/tally after the forgeries: %+v, want version %d with a=2 b=1", tl, before.Version)
	}
	if code, tl := readPollTally(t, result, "default"); code != http.StatusOK || tl.Version != before.Version || !isThree(tl) {
		t.Errorf("/api/polls/default/tally after the forgeries: %d %+v, want version %d with a=2 b=1", code, tl, before.Version)
	}
	code, page, _ := request(t, nil, http.MethodGet, result.url("/"), "", "")
	if code != http.StatusOK || !strings.Contains(string(page), "3 votes") {
		t.Errorf("results page after the forgeries: got %d, want 200 saying \"3 votes\"", code)
	}
	for _, n := range []string{"1000000", "1,000,000", "1 000 000"} {
		if strings.Contains(string(page), n) {
			t.Errorf("the results page shows %s, a forged figure", n)
		}
	}
	if got := e.pollCounts("default"); !sameCounts(countsTally(got), map[string]int64{"a": 2, "b": 1}) {
		t.Errorf("PostgreSQL holds %v, want a=2 b=1", got)
	}

	// A real vote still shows, live, everywhere.
	if code := newVoter(t).vote(t, vote, "b"); code != http.StatusAccepted {
		t.Fatalf("vote after the forgeries answered %d, want 202", code)
	}
	isFour := func(tl tally.Tally) bool {
		return tl.Version > before.Version && sameCounts(tl, map[string]int64{"a": 2, "b": 2})
	}
	waitFor(t, 15*time.Second, "the real vote at the result server", func() bool { return isFour(apiTally(t, result)) })
	for name, ws := range map[string]*socket{"/ws": wsDefault, "/ws?poll=default": wsPoll} {
		waitFor(t, 10*time.Second, "the real vote on "+name, func() bool { tl, ok := ws.last(); return ok && isFour(tl) })
		msgs, raw := ws.messages()
		for i, tl := range msgs {
			if forged(tl) {
				t.Errorf("%s carried a forged tally: %s", name, raw[i])
			}
		}
	}
	realVersion := fmt.Sprintf(`"version":%d,`, apiTally(t, result).Version)
	waitFor(t, 10*time.Second, "the real vote's tally in `nats sub`", func() bool { return strings.Contains(subOut.String(), realVersion) })
	// The forgeries NATS refused never reached a subscriber. (The worker
	// user's did: NATS lets that user publish anything, so the result
	// server is what stands between them and the pages.)
	if out := subOut.String(); strings.Contains(out, fmt.Sprint(forgedTotal)) {
		t.Errorf("`nats sub` printed a forged tally (total %d):\n%s", forgedTotal, tail(out, 20))
	}

	// The known limit (docs/SECURITY.md): whoever holds the worker's
	// password can publish a tally that could be true, a few versions
	// ahead, and pages show it until the result server next reads
	// PostgreSQL (every 10 s); then the database's tally is back without
	// anyone acting, and without a vote.
	now := apiTally(t, result)
	plausible := strings.TrimSuffix(tallyJSON("default", now.Version+3, `"a":990,"b":9`, 999), "}") + fmt.Sprintf(`,"epoch":%q}`, now.Epoch)
	t.Run("a compromised worker password (known limit)", func(t *testing.T) {
		if out, err := natsCLIRun(t, server, "worker", pw["worker"], "pub", subject+".default", plausible); err != nil {
			t.Fatalf("nats pub as worker: %v\n%s", err, out)
		}
		sent := time.Now()
		waitFor(t, 10*time.Second, "the plausible forgery at the result server", func() bool { return apiTally(t, result).Total == 999 })
		waitFor(t, 15*time.Second, "the database's tally back with no vote", func() bool {
			tl := apiTally(t, result)
			return tl.Version == now.Version && sameCounts(tl, now.Counts)
		})
		waitFor(t, 5*time.Second, "the database's tally back on the WebSocket", func() bool {
			tl, ok := wsDefault.last()
			return ok && tl.Version == now.Version && sameCounts(tl, now.Counts)
		})
		t.Logf("the plausible forgery was shown for %v", time.Since(sent).Round(100*time.Millisecond))
	})
}

// TestSecurityNATSEmptyPassword shows why an empty password must never
// reach nats.conf: nats-server takes NATS_WORKER_PASSWORD="" as the
// password "" (its configuration cannot refuse it), and trims what it
// reads, so a password of spaces only is the empty one too; then anyone
// who names the user worker with an empty password publishes tallies. So
// scripts/services.sh replaces an empty or unset variable with a password
// it generates and refuses one with spaces around it (checked here), and
// compose refuses an empty one (TestComposeEnvExample).
func TestSecurityNATSEmptyPassword(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "   "} {
		c := &cluster{t: t, dir: t.TempDir()}
		c.nats = c.newNATS()
		c.natsPasswords["worker"] = pw
		c.nats.up()
		t.Cleanup(c.nats.kill)
		out, err := natsCLIRun(t, fmt.Sprintf("nats://worker:@127.0.0.1:%d", c.nats.port), "", "", "pub", "tally.changed.default",
			tallyJSON("default", 1, `"a":999,"b":0`, 999))
		c.nats.kill()
		if err != nil || !strings.Contains(out, "Published") {
			t.Errorf("nats-server with NATS_WORKER_PASSWORD=%q: an empty password got %v %q; this test expected it accepted: "+
				"if nats-server now refuses it, say so in nats.conf and docs/SECURITY.md", pw, err, strings.TrimSpace(out))
		}
	}

	services := func(env []string) (string, error) {
		cmd := exec.Command("scripts/services.sh", "nats-url", "worker")
		cmd.Dir = ".."
		cmd.Env = append(slicesWithout(os.Environ(), "NATS_WORKER_PASSWORD="), env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		return strings.TrimSpace(string(b)) + stderr.String(), err
	}
	for _, env := range [][]string{{"NATS_WORKER_PASSWORD="}, nil} {
		u, err := services(env)
		if err != nil {
			t.Fatalf("scripts/services.sh nats-url worker with %v: %v %s", env, err, u)
		}
		rest, ok := strings.CutPrefix(u, "nats://worker:")
		pw, _, _ := strings.Cut(rest, "@")
		if !ok || len(pw) < 16 {
			t.Errorf("scripts/services.sh nats-url worker with %v: got %q, want a generated password", env, strings.Replace(u, pw, "…", 1))
		}
	}
	for _, pw := range []string{"   ", "  s3cret ", "s3cret\t"} {
		out, err := services([]string{"NATS_WORKER_PASSWORD=" + pw})
		if err == nil || !strings.Contains(out, "NATS_WORKER_PASSWORD") || strings.Contains(out, "nats://") {
			t.Errorf("scripts/services.sh nats-url worker with NATS_WORKER_PASSWORD=%q: got %v %q, want it refused, naming the variable", pw, err, out)
		}
	}
}

// slicesWithout returns env without the variables whose entry starts with
// prefix.
func slicesWithout(env []string, prefix string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}
