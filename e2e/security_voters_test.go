package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"livevote/shared/ballot"
)

// idVote is one API vote sent with a voter_id cookie of the caller's
// choosing ("" for none), as a script can send any cookie it likes.
type idVote struct {
	code       int
	voterID    string // the id the answer names, on 202
	setCookie  string // the voter_id the answer sets, if any
	retryAfter string
	body       string
}

func voteWithID(t *testing.T, vote *proc, path, option, id string, headers ...string) idVote {
	t.Helper()
	if id != "" {
		headers = append(headers, "Cookie", "voter_id="+id)
	}
	code, body, h := request(t, noRedirects, http.MethodPost, vote.url(path), "application/json", `{"vote":"`+option+`"}`, headers...)
	r := idVote{code: code, body: string(body)}
	if h != nil {
		r.retryAfter = h.Get("Retry-After")
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.Name == "voter_id" {
				r.setCookie = c.Value
			}
		}
	}
	if code == http.StatusAccepted {
		var a struct {
			VoterID string `json:"voter_id"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.VoterID == "" {
			t.Errorf("202 with body %s: want a voter_id", body)
		}
		r.voterID = a.VoterID
	}
	return r
}

// madeUpID is a voter id of the signed ids' shape that no server signed
// (i odd), or of version 1's unsigned shape (i even).
func madeUpID(i int) string {
	if i%2 == 0 {
		return ballot.NewVoterID()
	}
	mac := make([]byte, 12)
	_, _ = rand.Read(mac)
	return ballot.NewVoterID() + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// checkRefusal checks a 429: Retry-After in whole seconds, at least 1, and
// the API's {"error":…}.
func checkRefusal(t *testing.T, r idVote) {
	t.Helper()
	if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
		t.Errorf("429 with Retry-After %q, want whole seconds, at least 1", r.retryAfter)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(r.body), &e) != nil || e.Error == "" {
		t.Errorf("429 with body %s, want {\"error\":\"…\"}", r.body)
	}
}

// allowedWithin is how many events a limit of n a minute lets through in
// d: the burst of n, and one more for each n-th of a minute gone by.
func allowedWithin(n int, d time.Duration) int {
	return n + int(d/(time.Minute/time.Duration(n)))
}

// waitBallots waits until the worker has applied the stream and the
// default poll's ballots are exactly want.
func (e *env) waitBallots(want map[string]string) {
	e.t.Helper()
	waitFor(e.t, 15*time.Second, "the stream applied", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		return err == nil && n == 0
	})
	e.checkRows(want)
}

// TestSecurityMadeUpVoterIDs sends 40 votes, each with a voter id that no
// vote server issued (random ones of the signed shape, and version 1's
// unsigned shape), alternately to two vote servers on one Redis with
// RATE_LIMIT_NEW_VOTERS at 10/m. Each made-up id counts as none: the vote
// gets a new id, and the new ids are what the limit counts, across both
// servers. So 10 votes count (plus one per 6 s the test took) and the rest
// get 429 with Retry-After; no made-up id reaches PostgreSQL.
func TestSecurityMadeUpVoterIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start("worker").waitReady()
	const limit = 10
	servers := []*proc{
		e.start("vote", "RATE_LIMIT_NEW_VOTERS=10/m"),
		e.start("vote", "RATE_LIMIT_NEW_VOTERS=10/m"),
	}
	start := time.Now()
	want := map[string]string{}
	refusedBy := map[*proc]int{}
	var made []string
	for i := 0; i < 40; i++ {
		id := madeUpID(i)
		made = append(made, id)
		s := servers[i%2]
		r := voteWithID(t, s, "/api/vote", "a", id)
		switch r.code {
		case http.StatusAccepted:
			if r.voterID == id || r.setCookie != r.voterID {
				t.Errorf("made-up id %s: voted as %q with cookie %q, want a new id set as the cookie", id, r.voterID, r.setCookie)
			}
			want[r.voterID] = "a"
		case http.StatusTooManyRequests:
			checkRefusal(t, r)
			if r.setCookie != "" {
				t.Errorf("a refused new voter got a voter id: %s", r.setCookie)
			}
			refusedBy[s]++
		default:
			t.Errorf("made-up id %d: got %d %s, want 202 or 429", i, r.code, r.body)
		}
	}
	took := time.Since(start)
	if n := len(want); n < limit || n > allowedWithin(limit, took) {
		t.Errorf("%d of 40 made-up ids voted in %v, want %d (at most %d)", n, took.Round(time.Millisecond), limit, allowedWithin(limit, took))
	}
	for _, s := range servers {
		if refusedBy[s] == 0 {
			t.Errorf("vote server %s refused none: the limit is not shared", s.addr)
		}
	}
	t.Logf("40 made-up ids in %v: %d voted, %d and %d refused by the two servers", took.Round(time.Millisecond), len(want), refusedBy[servers[0]], refusedBy[servers[1]])
	e.waitBallots(want)
	for _, id := range made {
		var n int
		if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM ballots WHERE voter = $1", id).Scan(&n); err != nil || n != 0 {
			t.Errorf("PostgreSQL holds %d ballots (err %v) of the made-up id %s", n, err, id)
		}
	}
}

// TestSecurityAlteredVoterIDs takes a real voter's id and alters it the
// ways a forger would (one character of the random part or of the MAC, a
// cut, an added character, the random part alone, another case) and takes
// an id of another installation (another Redis key): each counts as none,
// gets a new id, and the real voter's ballot stays theirs.
func TestSecurityAlteredVoterIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start("worker").waitReady()
	vote := e.start("vote")
	victim := voteWithID(t, vote, "/api/vote", "a", "")
	if victim.code != http.StatusAccepted || len(victim.voterID) != ballot.SignedVoterIDLen {
		t.Fatalf("the first vote: got %d %s, want 202 with a signed id of %d characters", victim.code, victim.body, ballot.SignedVoterIDLen)
	}
	id := victim.voterID
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	other := newEnv(t)
	foreign := voteWithID(t, other.start("vote"), "/api/vote", "b", "")
	if foreign.code != http.StatusAccepted {
		t.Fatalf("a vote at another installation: got %d %s", foreign.code, foreign.body)
	}
	altered := []struct{ name, id string }{
		{"first character of the random part changed", flip(id, 0)},
		{"last character of the random part changed", flip(id, ballot.VoterIDLen-1)},
		{"first character of the MAC changed", flip(id, ballot.VoterIDLen+1)},
		{"last character of the MAC changed", flip(id, len(id)-1)},
		{"the MAC cut by one", id[:len(id)-1]},
		{"a character added", id + "A"},
		{"the random part alone (version 1's shape)", id[:ballot.VoterIDLen]},
		{"the MAC of another id", ballot.NewVoterID() + id[ballot.VoterIDLen:]},
		{"upper case", strings.ToUpper(id)},
		{"another installation's id", foreign.voterID},
		{"not an id at all", "../../etc/passwd"},
	}
	want := map[string]string{id: "a"}
	for _, tt := range altered {
		t.Run(tt.name, func(t *testing.T) {
			if tt.id == id {
				t.Fatalf("the alteration left the id unchanged")
			}
			r := voteWithID(t, vote, "/api/vote", "b", tt.id)
			if r.code != http.StatusAccepted {
				t.Fatalf("got %d %s, want 202 as a new voter", r.code, r.body)
			}
			if r.voterID == id || r.voterID == tt.id || r.setCookie != r.voterID {
				t.Errorf("voted as %q with cookie %q, want a new id, set as the cookie", r.voterID, r.setCookie)
			}
			want[r.voterID] = "b"
		})
	}
	// The real voter still votes as themselves.
	if r := voteWithID(t, vote, "/api/vote", "a", id); r.code != http.StatusAccepted || r.voterID != id || r.setCookie != "" {
		t.Errorf("the real voter: got %d as %q (cookie %q), want 202 as %s with no new cookie", r.code, r.voterID, r.setCookie, id)
	}
	e.waitBallots(want)
}

// TestSecuritySecondVoteServerAcceptsIDs: a voter id issued by one vote
// server is accepted by another on the same Redis, with no setting, and by
// the first after a restart: the vote replaces the voter's earlier one.
// Vote servers sharing a VOTER_SECRET accept each other's ids too, and
// refuse those of the key in Redis.
func TestSecuritySecondVoteServerAcceptsIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start("worker").waitReady()
	first, second := e.start("vote"), e.start("vote")
	r := voteWithID(t, first, "/api/vote", "a", "")
	if r.code != http.StatusAccepted {
		t.Fatalf("first vote: got %d %s", r.code, r.body)
	}
	id := r.voterID
	check := func(name string, p *proc, option string) {
		t.Helper()
		got := voteWithID(t, p, "/api/vote", option, id)
		if got.code != http.StatusAccepted || got.voterID != id || got.setCookie != "" {
			t.Errorf("%s: got %d as %q (new cookie %q), want 202 as %s", name, got.code, got.voterID, got.setCookie, id)
		}
	}
	check("the second vote server", second, "b")
	if err := first.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	first = e.restart(first)
	check("the first vote server, restarted", first, "a")
	check("the second vote server again", second, "b")
	e.waitBallots(map[string]string{id: "b"})

	const secret = "0123456789abcdef0123456789abcdef-e2e"
	withSecret := []*proc{e.start("vote", "VOTER_SECRET="+secret), e.start("vote", "VOTER_SECRET="+secret)}
	s := voteWithID(t, withSecret[0], "/api/vote", "a", "")
	if s.code != http.StatusAccepted {
		t.Fatalf("vote with VOTER_SECRET: got %d %s", s.code, s.body)
	}
	if got := voteWithID(t, withSecret[1], "/api/vote", "b", s.voterID); got.voterID != s.voterID {
		t.Errorf("a vote server with the same VOTER_SECRET gave %q a new id %q", s.voterID, got.voterID)
	}
	if got := voteWithID(t, withSecret[1], "/api/vote", "b", id); got.voterID == id {
		t.Errorf("a vote server with VOTER_SECRET accepted %s, an id of the key in Redis", id)
	}
	if got := voteWithID(t, second, "/api/vote", "b", s.voterID); got.voterID == s.voterID {
		t.Errorf("a vote server without VOTER_SECRET accepted %s, an id of the secret", s.voterID)
	}
}

// TestSecurityRateLimitSharedAcrossVoteServers sends 30 votes of three
// voters from one address, alternately to two vote servers on one Redis
// with RATE_LIMIT_VOTES at 10/m: 10 are accepted in all (plus one per 6 s
// the test took), the others get 429 with Retry-After from either server,
// the form route too; once Retry-After has passed, a vote is accepted.
func TestSecurityRateLimitSharedAcrossVoteServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start("worker").waitReady()
	const limit = 10
	servers := []*proc{e.start("vote", "RATE_LIMIT_VOTES=10/m"), e.start("vote", "RATE_LIMIT_VOTES=10/m")}
	ids := make([]string, 3)
	start := time.Now()
	accepted := 0
	refusedBy := map[*proc]int{}
	last := map[string]string{}
	retry := 0
	for i := 0; i < 30; i++ {
		s, v := servers[i%2], i%3
		option := []string{"a", "b"}[i%2]
		r := voteWithID(t, s, "/api/vote", option, ids[v])
		switch r.code {
		case http.StatusAccepted:
			accepted++
			ids[v] = r.voterID
			last[r.voterID] = option
		case http.StatusTooManyRequests:
			checkRefusal(t, r)
			refusedBy[s]++
			retry, _ = strconv.Atoi(r.retryAfter)
		default:
			t.Fatalf("vote %d: got %d %s, want 202 or 429", i, r.code, r.body)
		}
	}
	took := time.Since(start)
	if accepted < limit || accepted > allowedWithin(limit, took) {
		t.Errorf("%d of 30 votes accepted in %v, want %d (at most %d)", accepted, took.Round(time.Millisecond), limit, allowedWithin(limit, took))
	}
	for _, s := range servers {
		if refusedBy[s] == 0 {
			t.Errorf("vote server %s refused none: the limit is not shared", s.addr)
		}
	}
	// The form route counts against the same limit.
	code, _, h := request(t, noRedirects, http.MethodPost, servers[1].url("/"), "application/x-www-form-urlencoded", "vote=a")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("a form vote over the limit: got %d with Retry-After %q, want 429 with Retry-After", code, h.Get("Retry-After"))
	}
	t.Logf("30 votes in %v: %d accepted, %d and %d refused; Retry-After %d s", took.Round(time.Millisecond), accepted, refusedBy[servers[0]], refusedBy[servers[1]], retry)
	time.Sleep(time.Duration(retry) * time.Second)
	if r := voteWithID(t, servers[0], "/api/vote", "b", ids[0]); r.code != http.StatusAccepted {
		t.Errorf("a vote after Retry-After: got %d %s, want 202", r.code, r.body)
	} else {
		last[ids[0]] = "b"
	}
	e.waitBallots(last)
}

// TestSecurityTrustedProxies: X-Forwarded-For names the client only when
// the connection comes from a proxy in TRUSTED_PROXIES. Without it, votes
// claiming many addresses all count against the connection's; with
// 127.0.0.1 trusted, each forwarded address has its limit, addresses
// written left of the last hop do not escape it, and IPv6 addresses of one
// /64 count as one client.
func TestSecurityTrustedProxies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start("worker").waitReady()
	untrusted := e.start("vote", "RATE_LIMIT_VOTES=3/m")
	behind := newEnv(t)
	trusted := behind.start("vote", "RATE_LIMIT_VOTES=3/m", "TRUSTED_PROXIES=127.0.0.1")

	count := func(p *proc, xff func(i int) string, n int) (accepted int) {
		t.Helper()
		for i := 0; i < n; i++ {
			r := voteWithID(t, p, "/api/vote", "a", "", "X-Forwarded-For", xff(i))
			switch r.code {
			case http.StatusAccepted:
				accepted++
			case http.StatusTooManyRequests:
				checkRefusal(t, r)
			default:
				t.Fatalf("got %d %s, want 202 or 429", r.code, r.body)
			}
		}
		return accepted
	}
	manyIPv4 := func(i int) string { return "203.0.113." + strconv.Itoa(i+1) }
	start := time.Now()
	tests := []struct {
		name   string
		p      *proc
		xff    func(int) string
		n      int
		wantOK int // at most allowedWithin(this) when limited
	}{
		{"untrusted peer, 9 forwarded addresses", untrusted, manyIPv4, 9, 3},
		{"trusted proxy, 9 forwarded addresses", trusted, manyIPv4, 9, 9},
		{"trusted proxy, one forwarded address", trusted, func(int) string { return "198.51.100.7" }, 6, 3},
		{"trusted proxy, made-up addresses left of the client", trusted, func(i int) string { return "192.0.2." + strconv.Itoa(i+1) + ", 198.51.100.8" }, 6, 3},
		{"trusted proxy, one IPv6 /64", trusted, func(i int) string { return "2001:db8:1:2::" + strconv.Itoa(i+1) }, 6, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := count(tt.p, tt.xff, tt.n)
			limited := tt.wantOK < tt.n
			if !limited && got != tt.wantOK || limited && (got < tt.wantOK || got > allowedWithin(tt.wantOK, time.Since(start))) {
				t.Errorf("%d of %d votes accepted, want %d", got, tt.n, tt.wantOK)
			}
		})
	}
}
