package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/ballot"
	"livevote/shared/health"
	"livevote/vote/internal/config"
	"livevote/vote/internal/ratelimit"
)

// alterAt changes the character at i of id to another of its alphabet.
func alterAt(id string, i int) string {
	c := byte('A')
	if id[i] == 'A' {
		c = 'B'
	}
	return id[:i] + string(c) + id[i+1:]
}

// TestForeignVoterIDsAreMissing: an id that this installation's key did
// not sign counts as no id: the voter gets a new one (a new cookie) and
// the vote is recorded under it, never under the id sent.
func TestForeignVoterIDsAreMissing(t *testing.T) {
	good := testSigner(t).Issue()
	other, _ := ballot.NewVoterSigner([]byte(strings.Repeat("another installation's key", 2)))
	tests := []struct{ name, id string }{
		{"made up in the signed shape", "abcXYZ019-_abcXYZ019-_.0123456789abcDEF"},
		{"made up in version 1's shape", ballot.NewVoterID()},
		{"random part altered", alterAt(good, 3)},
		{"MAC altered", alterAt(good, len(good)-2)},
		{"another installation's", other.Issue()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !ballot.ValidVoterID(tt.id) || tt.id == good {
				t.Fatalf("%q is not an id of a valid shape that differs from the good one", tt.id)
			}
			q := &fakeStore{}
			a := newTestApp(t, q)
			resp, _ := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`, &http.Cookie{Name: "voter_id", Value: tt.id})
			c := cookie(resp, "voter_id")
			if resp.StatusCode != http.StatusAccepted || c == nil || c.Value == tt.id || !testSigner(t).Check(c.Value) {
				t.Fatalf("got %d and cookie %+v, want 202 and a new signed id", resp.StatusCode, c)
			}
			if v := q.votes(); len(v) != 1 || v[0].voter != c.Value {
				t.Errorf("queued %+v, want one vote by the new id %s", v, c.Value)
			}
			// A page read with it offers a new id too.
			resp, _ = a.do("GET", "/", "", "", &http.Cookie{Name: "voter_id", Value: tt.id})
			if c := cookie(resp, "voter_id"); c == nil || !testSigner(t).Check(c.Value) {
				t.Errorf("page: cookie %+v, want a new signed id", c)
			}
		})
	}
	// Another vote server of the same key (the same Redis) takes the id.
	q := &fakeStore{}
	a := newTestApp(t, q)
	resp, _ := a.do("POST", "/api/vote", jsonType, `{"vote":"b"}`, &http.Cookie{Name: "voter_id", Value: good})
	if c := cookie(resp, "voter_id"); resp.StatusCode != http.StatusAccepted || c != nil {
		t.Errorf("a good id: got %d and a new cookie %+v, want 202 and none", resp.StatusCode, c)
	}
	if v := q.votes(); len(v) != 1 || v[0].voter != good {
		t.Errorf("queued %+v, want one vote by %s", v, good)
	}
}

// unknownKey is a vote server whose key Redis has not given yet.
type unknownKey struct{}

func (unknownKey) Current() *ballot.VoterSigner { return nil }
func (unknownKey) Signer(context.Context) (*ballot.VoterSigner, error) {
	return nil, errors.New("voterkey: the voter id key is not known yet: dial tcp: connection refused")
}

// TestVoterKeyUnknown: until the key is known, pages are served without a
// voter id and votes get 503, as when Redis is down.
func TestVoterKeyUnknown(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	q := &fakeStore{}
	logger := slog.New(slog.DiscardHandler)
	app, err := NewServer(logger, cfg, q, unknownKey{}, &fakeLimits{}, health.NewMonitor(logger, time.Second), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &fiberApp{t: t, app: app}
	resp, _ := a.do("GET", "/", "", "")
	if resp.StatusCode != 200 || cookie(resp, "voter_id") != nil {
		t.Errorf("page: got %d with cookie %+v, want 200 without one", resp.StatusCode, cookie(resp, "voter_id"))
	}
	resp, body := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Errorf("vote: got %d %s, want 503 saying Redis is unavailable", resp.StatusCode, body)
	}
	if len(q.votes()) != 0 {
		t.Errorf("queued %+v, want nothing", q.votes())
	}
}

// TestRateLimits: over a limit a vote gets 429 with Retry-After and
// records nothing; a page is still served, without a new voter id.
func TestRateLimits(t *testing.T) {
	t.Run("votes over the limit", func(t *testing.T) {
		q := &fakeStore{}
		lim := &fakeLimits{max: map[ratelimit.Kind]int{ratelimit.Votes: 2}, retry: 1500 * time.Millisecond}
		a := newLimitedApp(t, q, lim)
		resp, _ := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`)
		voter := cookie(resp, "voter_id")
		if resp.StatusCode != http.StatusAccepted || voter == nil {
			t.Fatalf("first vote: got %d, want 202 with a voter id", resp.StatusCode)
		}
		if resp, _ := a.do("POST", "/", formType, "vote=b", voter); resp.StatusCode != http.StatusOK {
			t.Fatalf("second vote (form): got %d, want 200", resp.StatusCode)
		}
		resp, body := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`, voter)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" ||
			!strings.HasPrefix(body, `{"error":"`) || !strings.Contains(body, "too many votes") || !strings.Contains(body, "2 s") {
			t.Errorf("API: got %d, Retry-After %q, %s; want 429, 2 and a JSON error naming the limit", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		resp, body = a.do("POST", "/", formType, "vote=a", voter)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" ||
			!strings.Contains(body, "too many votes from your network") || !strings.Contains(body, `name="vote" value="a"`) {
			t.Errorf("form: got %d, Retry-After %q; want 429, 2 and the page saying so:\n%.400s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if cookie(resp, "vote") != nil {
			t.Error("a refused vote set the vote cookie")
		}
		resp, body = a.do("POST", "/", formType+"; charset=utf-8", "vote=a", voter, &http.Cookie{Name: "lang", Value: "es"})
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "demasiados votos") {
			t.Errorf("form in Spanish: got %d, want 429 saying demasiados votos", resp.StatusCode)
		}
		if v := q.votes(); len(v) != 2 {
			t.Errorf("queued %d votes, want the 2 within the limit", len(v))
		}
		_, metrics := a.do("GET", "/metrics", "", "")
		for _, want := range []string{`vote_rejected_total{reason="rate_limited"} 3`, `vote_rate_limited_total{limit="votes"} 3`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("the page gives its script the words", func(t *testing.T) {
		a := newTestApp(t, &fakeStore{})
		_, body := a.do("GET", "/", "", "")
		for _, want := range []string{
			`data-retrying="Too many votes from your network right now: sending your vote again in %d s…"`,
			`data-limited="Your vote was not recorded: too many votes from your network right now. Please try again in %d s."`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
	})

	t.Run("new voters over the limit", func(t *testing.T) {
		q := &fakeStore{}
		lim := &fakeLimits{max: map[ratelimit.Kind]int{ratelimit.NewVoters: 1}, retry: 30 * time.Second}
		a := newLimitedApp(t, q, lim)
		resp, _ := a.do("GET", "/", "", "")
		first := cookie(resp, "voter_id")
		if resp.StatusCode != 200 || first == nil {
			t.Fatalf("first page: got %d, cookie %+v; want 200 with a voter id", resp.StatusCode, first)
		}
		// The next reader is over the limit: the page, but no id.
		resp, body := a.do("GET", "/", "", "")
		if resp.StatusCode != 200 || cookie(resp, "voter_id") != nil || !strings.Contains(body, `name="vote"`) {
			t.Errorf("second page: got %d, cookie %+v; want 200 with the ballot and no voter id", resp.StatusCode, cookie(resp, "voter_id"))
		}
		// Their vote needs a new voter id: 429.
		resp, body = a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" || !strings.Contains(body, "too many new voters") {
			t.Errorf("vote without an id: got %d, Retry-After %q, %s; want 429, 30, naming new voters", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if cookie(resp, "voter_id") != nil {
			t.Error("a refused new voter got an id")
		}
		// The voter who has one votes on.
		if resp, _ := a.do("POST", "/api/vote", jsonType, `{"vote":"b"}`, first); resp.StatusCode != http.StatusAccepted {
			t.Errorf("vote with the first id: got %d, want 202", resp.StatusCode)
		}
		if v := q.votes(); len(v) != 1 || v[0].voter != first.Value {
			t.Errorf("queued %+v, want the first voter's vote only", v)
		}
	})

	t.Run("limits not checked: Redis down", func(t *testing.T) {
		q := &fakeStore{}
		a := newLimitedApp(t, q, &fakeLimits{err: errors.New("dial tcp: connection refused")})
		resp, body := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Redis") {
			t.Errorf("got %d %s, want 503 naming Redis", resp.StatusCode, body)
		}
		resp, _ = a.do("GET", "/", "", "")
		if resp.StatusCode != 200 || cookie(resp, "voter_id") != nil {
			t.Errorf("page: got %d with cookie %+v, want 200 without one", resp.StatusCode, cookie(resp, "voter_id"))
		}
		if len(q.votes()) != 0 {
			t.Errorf("queued %+v, want nothing", q.votes())
		}
	})
}

// TestClientAddress: the limits count by the connection's address, or
// behind a trusted proxy by the address it forwards.
func TestClientAddress(t *testing.T) {
	vote := func(a *fiberApp, xff ...string) {
		req := newRequest("POST", "/api/vote", jsonType, `{"vote":"a"}`)
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if resp, body := a.send(req); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("got %d %s, want 202", resp.StatusCode, body)
		}
	}
	// app.Test's connection comes from 0.0.0.0.
	lim := &fakeLimits{max: map[ratelimit.Kind]int{ratelimit.Votes: 100, ratelimit.NewVoters: 100}}
	a := newLimitedApp(t, &fakeStore{}, lim)
	vote(a, "203.0.113.9")
	lim = &fakeLimits{max: map[ratelimit.Kind]int{ratelimit.Votes: 100, ratelimit.NewVoters: 100}}
	b := newLimitedApp(t, &fakeStore{}, lim, "TRUSTED_PROXIES", "0.0.0.0")
	vote(b, "198.51.100.1, 203.0.113.9")
	vote(b, "2001:db8:1:2::7")
	want := []string{"votes 0.0.0.0", "new_voters 0.0.0.0"}
	if got := a.limitKeys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("untrusted peer: limits counted %v, want %v (X-Forwarded-For ignored)", got, want)
	}
	want = []string{"votes 203.0.113.9", "new_voters 203.0.113.9", "votes 2001:db8:1:2::/64", "new_voters 2001:db8:1:2::/64"}
	if got := b.limitKeys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("trusted proxy: limits counted %v, want %v", got, want)
	}
}

// TestRedisFullAnswers503: Redis refusing writes (maxmemory, noeviction)
// is a 503 that says Redis is full, and nothing is acknowledged.
func TestRedisFullAnswers503(t *testing.T) {
	q := &fakeStore{appendErr: errors.New("OOM command not allowed when used memory > 'maxmemory'. script: f6a3, on @user_script:7.")}
	a := newTestApp(t, q)
	resp, body := a.do("POST", "/api/vote", jsonType, `{"vote":"a"}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Redis) is full") {
		t.Errorf("API: got %d %s, want 503 saying Redis is full", resp.StatusCode, body)
	}
	resp, body = a.do("POST", "/", formType, "vote=b")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "is full") || cookie(resp, "vote") != nil {
		t.Errorf("form: got %d, want 503 with the page saying Redis is full and no vote cookie:\n%.300s", resp.StatusCode, body)
	}
	_, metrics := a.do("GET", "/metrics", "", "")
	if !strings.Contains(metrics, `vote_rejected_total{reason="full"} 2`) {
		t.Error(`metrics lack vote_rejected_total{reason="full"} 2`)
	}
}

// limitKeys is what the app's fake limits were asked, in order.
func (a *fiberApp) limitKeys() []string {
	lim := a.limits.(*fakeLimits)
	lim.mu.Lock()
	defer lim.mu.Unlock()
	return append([]string(nil), lim.keys...)
}
