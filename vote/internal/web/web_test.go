package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/ballot"
	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/vote/internal/config"
	"livevote/vote/internal/ratelimit"
	"livevote/vote/internal/votequeue"
	"livevote/vote/internal/voterkey"
)

type appended struct{ poll, voter, option string }

// fakeStore stands in for Redis in handler tests (votequeue's tests and
// e2e use the real one): the polls' copies and the votes appended.
type fakeStore struct {
	mu    sync.Mutex
	got   []appended
	polls map[string]*votequeue.Copy
	fail  error
	// appendErr, when set, is Append's answer: Redis refusing the write
	// while it still reads.
	appendErr error
}

func (q *fakeStore) Append(_ context.Context, pollID, voter, option string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return "", q.fail
	}
	if q.appendErr != nil {
		return "", q.appendErr
	}
	if pollID != poll.DefaultID {
		cp, ok := q.polls[pollID]
		switch {
		case !ok:
			return "", votequeue.ErrNoPoll
		case cp.State != poll.StateOpen:
			return "", votequeue.ErrPollClosed
		}
	}
	q.got = append(q.got, appended{pollID, voter, option})
	return "1-0", nil
}

func (q *fakeStore) Create(_ context.Context, rec poll.Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	if q.polls == nil {
		q.polls = map[string]*votequeue.Copy{}
	}
	if _, ok := q.polls[rec.ID]; ok {
		return votequeue.ErrTaken
	}
	q.polls[rec.ID] = &votequeue.Copy{Record: rec, State: poll.StateOpen}
	return nil
}

func (q *fakeStore) SetState(_ context.Context, pollID, state string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return false, q.fail
	}
	cp, ok := q.polls[pollID]
	if !ok {
		return false, votequeue.ErrNoPoll
	}
	changed := cp.State != state
	cp.State = state
	return changed, nil
}

func (q *fakeStore) Load(_ context.Context, pollID string) (votequeue.Copy, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return votequeue.Copy{}, q.fail
	}
	cp, ok := q.polls[pollID]
	if !ok {
		if pollID == poll.DefaultID {
			return votequeue.Copy{State: poll.StateOpen}, nil
		}
		return votequeue.Copy{}, votequeue.ErrNoPoll
	}
	c := *cp
	c.Record.State = c.State
	return c, nil
}

func (q *fakeStore) Ping(context.Context) error { return q.fail }

func (q *fakeStore) votes() []appended {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]appended(nil), q.got...)
}

// testSecret is the voter id key of the handler tests' vote server.
var testSecret = strings.Repeat("test voter key ", 3)

// testSigner signs voter ids as the handler tests' vote server does.
func testSigner(t testing.TB) *ballot.VoterSigner {
	s, err := ballot.NewVoterSigner([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testVoters is the test vote server's key.
func testVoters(t testing.TB) Voters {
	k, err := voterkey.Fixed([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeLimits stands in for the Redis rate limits (ratelimit's tests use
// the real one): each kind allows max[kind] events per client address
// (no limit when absent), then refuses with retry; err, when set, is
// Redis not answering.
type fakeLimits struct {
	mu    sync.Mutex
	max   map[ratelimit.Kind]int
	retry time.Duration
	err   error
	seen  map[string]int
	keys  []string
}

func (f *fakeLimits) Off(kind ratelimit.Kind) bool {
	_, on := f.max[kind]
	return !on && f.err == nil
}

func (f *fakeLimits) Allow(_ context.Context, kind ratelimit.Kind, key string) (ratelimit.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, kind.String()+" "+key)
	if f.err != nil {
		return ratelimit.Decision{}, f.err
	}
	max, on := f.max[kind]
	if !on {
		return ratelimit.Decision{Allowed: true}, nil
	}
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	k := kind.String() + " " + key
	if f.seen[k] >= max {
		return ratelimit.Decision{RetryAfter: f.retry}, nil
	}
	f.seen[k]++
	return ratelimit.Decision{Allowed: true}, nil
}

func newTestApp(t *testing.T, q *fakeStore, env ...string) *fiberApp {
	t.Helper()
	return newLimitedApp(t, q, &fakeLimits{}, env...)
}

// newLimitedApp is newTestApp with the rate limits of lim.
func newLimitedApp(t *testing.T, q *fakeStore, lim Limiter, env ...string) *fiberApp {
	t.Helper()
	vars := map[string]string{"OPTION_A": "Tea", "OPTION_B": "Coffee"}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	mon := health.NewMonitor(logger, time.Second, health.Check{Name: "redis", Probe: q.Ping})
	app, err := NewServer(logger, cfg, q, testVoters(t), lim, mon, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &fiberApp{t: t, app: app, limits: lim}
}

type fiberApp struct {
	t   *testing.T
	app interface {
		Test(req *http.Request, msTimeout ...int) (*http.Response, error)
	}
	limits Limiter
}

func newRequest(method, path, contentType, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

func (a *fiberApp) do(method, path, contentType, body string, cookies ...*http.Cookie) (*http.Response, string) {
	a.t.Helper()
	req := newRequest(method, path, contentType, body)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return a.send(req)
}

func (a *fiberApp) send(req *http.Request) (*http.Response, string) {
	a.t.Helper()
	resp, err := a.app.Test(req, 5000)
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestPageSetsVoterCookieAndShowsOptions(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	resp, body := a.do("GET", "/", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	c := cookie(resp, "voter_id")
	if c == nil || !ballot.ValidVoterID(c.Value) || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("voter_id cookie %+v, want a valid id, HttpOnly, SameSite=Lax", c)
	}
	for _, want := range []string{
		`name="vote" value="a"`, `name="vote" value="b"`, ">Tea<", ">Coffee<",
		`method="post" action="/"`, "change your vote", "Processed by host",
		`data-socket="ws://example.com:8081/ws?poll=default"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, `aria-pressed="true"`) {
		t.Error("a new voter's page marks a choice")
	}
}

func TestPageMarksReturningVotersChoice(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	id := testSigner(t).Issue()
	resp, body := a.do("GET", "/", "", "", &http.Cookie{Name: "voter_id", Value: id}, &http.Cookie{Name: "vote", Value: "b"})
	if c := cookie(resp, "voter_id"); c != nil {
		t.Errorf("a valid voter_id was replaced by %q", c.Value)
	}
	if !strings.Contains(body, `value="b" class="option option-b chosen" aria-pressed="true"`) {
		t.Errorf("Coffee is not marked:\n%s", body)
	}
	if !strings.Contains(body, "You voted for <strong>Coffee</strong>") {
		t.Error("page does not name the choice")
	}
}

func TestAPIVote(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	resp, body := a.do("POST", "/api/vote", "application/json; charset=utf-8", `{"vote":"a"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", resp.StatusCode, body)
	}
	var got ballot.Accepted
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	c := cookie(resp, "voter_id")
	if c == nil || c.Value != got.VoterID || got.Vote != "a" {
		t.Errorf("answer %+v with cookie %+v, want the new voter's id and vote a", got, c)
	}
	if len(q.got) != 1 || q.got[0] != (appended{"default", got.VoterID, "a"}) {
		t.Errorf("queued %+v, want one vote a by %s", q.got, got.VoterID)
	}

	// The same voter again, now with the cookie: same id, vote replaced.
	resp, body = a.do("POST", "/api/vote", "application/json", `{"vote":"b"}`, c)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, got.VoterID) {
		t.Errorf("second vote got %d %s, want 202 as %s", resp.StatusCode, body, got.VoterID)
	}
	if cookie(resp, "voter_id") != nil {
		t.Error("second vote set a new voter_id")
	}
}

func TestMalformedCookieGetsFreshVoter(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	for _, bad := range []string{"x", "not-a-voter-id-at-all!!", strings.Repeat("A", 21)} {
		resp, _ := a.do("POST", "/api/vote", "application/json", `{"vote":"a"}`, &http.Cookie{Name: "voter_id", Value: bad})
		c := cookie(resp, "voter_id")
		if c == nil || !ballot.ValidVoterID(c.Value) {
			t.Errorf("cookie %q: got new cookie %+v, want a fresh valid id", bad, c)
		}
	}
}

// A body over 4 KiB is refused by the HTTP server before any handler; app.Test
// reports that as an error rather than a response, so e2e checks the 413.
func TestBadInputRecordsNothing(t *testing.T) {
	tests := []struct {
		name, method, path, contentType, body string
		want                                  int
	}{
		{"option c", "POST", "/api/vote", "application/json", `{"vote":"c"}`, 400},
		{"empty option", "POST", "/api/vote", "application/json", `{"vote":""}`, 400},
		{"null", "POST", "/api/vote", "application/json", `null`, 400},
		{"array", "POST", "/api/vote", "application/json", `["a"]`, 400},
		{"malformed", "POST", "/api/vote", "application/json", `{vote:a}`, 400},
		{"empty body", "POST", "/api/vote", "application/json", ``, 400},
		{"text/plain", "POST", "/api/vote", "text/plain", `{"vote":"a"}`, 415},
		{"form type on API", "POST", "/api/vote", "application/x-www-form-urlencoded", `vote=a`, 415},
		{"form option c", "POST", "/", "application/x-www-form-urlencoded", `vote=c`, 400},
		{"form empty", "POST", "/", "application/x-www-form-urlencoded", ``, 400},
		{"GET on API", "GET", "/api/vote", "", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeStore{}
			a := newTestApp(t, q)
			resp, body := a.do(tt.method, tt.path, tt.contentType, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("got %d %q, want %d", resp.StatusCode, body, tt.want)
			}
			if strings.TrimSpace(body) == "" {
				t.Error("empty body; want a message")
			}
			if len(q.got) != 0 {
				t.Errorf("queued %+v, want nothing", q.got)
			}
			if cookie(resp, "vote") != nil {
				t.Error("a refused vote set the vote cookie")
			}
		})
	}
}

func TestRedisDownAnswers503(t *testing.T) {
	q := &fakeStore{fail: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")}
	a := newTestApp(t, q)
	resp, body := a.do("POST", "/api/vote", "application/json", `{"vote":"a"}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Redis") {
		t.Errorf("API: got %d %s, want 503 naming Redis", resp.StatusCode, body)
	}
	if cookie(resp, "vote") != nil {
		t.Error("an unrecorded vote set the vote cookie")
	}
	resp, body = a.do("POST", "/", "application/x-www-form-urlencoded", "vote=b")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not recorded") {
		t.Errorf("form: got %d, want 503 with the page saying the vote was not recorded", resp.StatusCode)
	}
	resp, body = a.do("GET", "/readyz", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"failing":"redis"`) {
		t.Errorf("/readyz: got %d %s, want 503 naming redis", resp.StatusCode, body)
	}
}

func TestFormVoteAnswersPageWithChoice(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	resp, body := a.do("POST", "/", "application/x-www-form-urlencoded", "vote=a")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(body, "You voted for <strong>Tea</strong>") || !strings.Contains(body, `value="a" class="option option-a chosen"`) {
		t.Errorf("page does not show the choice:\n%s", body)
	}
	if c := cookie(resp, "vote"); c == nil || c.Value != "a" {
		t.Errorf("vote cookie %+v, want a", c)
	}
	if len(q.got) != 1 || q.got[0].option != "a" {
		t.Errorf("queued %+v, want one vote a", q.got)
	}
}

func TestHealthMetricsStatic(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	for _, tt := range []struct {
		path, want string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", `"status":"ready"`, 200},
		{"/metrics", "vote_accepted_total", 200},
		{"/static/tally.js", "LiveTally", 200},
		{"/static/vote.js", "/api/vote", 200},
		{"/static/style.css", ".option", 200},
		{"/static/nope.js", "", 404},
	} {
		resp, body := a.do("GET", tt.path, "", "")
		if resp.StatusCode != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: got %d, want %d containing %q", tt.path, resp.StatusCode, tt.code, tt.want)
		}
	}
}

func BenchmarkAPIVote(b *testing.B) {
	cfg, _ := config.Load(func(string) string { return "" })
	logger := slog.New(slog.DiscardHandler)
	q := &discardQueue{}
	app, err := NewServer(logger, cfg, q, testVoters(b), &fakeLimits{}, health.NewMonitor(logger, time.Second), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	id := testSigner(b).Issue()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/vote", strings.NewReader(`{"vote":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: "voter_id", Value: id})
		resp, err := app.Test(req, -1)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("got %v %v", resp, err)
		}
	}
}

type discardQueue struct{ fakeStore }

func (*discardQueue) Append(context.Context, string, string, string) (string, error) {
	return "1-0", nil
}
