package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// noRedirects is a client without a cookie jar that shows a 303 as it is,
// as a hidden form on another site would get it.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// TestSecurityCrossSiteVotes tries what a hostile page can make its
// visitors' browsers send, and what a link can carry: form posts and API
// calls from a foreign Origin, from Sec-Fetch-Site cross-site, from Origin
// null (sandboxed frames), from the result server's own origin (same host,
// another port), forms in text/plain (the one type a form may send without
// a CORS preflight besides urlencoded and multipart), and votes in the
// query string with an empty body. Each is refused (403, 415 or 400) and
// nothing of them reaches Redis or PostgreSQL: once a worker has applied
// the stream, the ballots are exactly those of the same-site votes sent
// beside them, the polls stay open and no poll was created.
func TestSecurityCrossSiteVotes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, _, vote := e.startAll()
	defs := pollDefs(t)
	p := createPoll(t, vote, defs["three"])
	waitPollKnown(t, result, p.ID)

	const (
		form  = "application/x-www-form-urlencoded"
		js    = "application/json"
		plain = "text/plain"
		evil  = "https://evil.example"
	)
	self := "http://" + vote.addr
	resultOrigin := "http://" + result.addr
	page := "/p/" + p.ID
	votes := "/api/polls/" + p.ID + "/votes"
	manageForm := url.Values{"token": {p.ManageToken}, "action": {"close"}}.Encode()
	bearer := "Bearer " + p.ManageToken
	tests := []struct {
		name, method, path, ctype, body string
		headers                         []string
		want                            int
		crossSite                       bool // counted in vote_cross_site_refused_total
	}{
		{"form from a foreign Origin", "POST", "/", form, "vote=b", []string{"Origin", evil}, 403, true},
		{"form from a foreign Origin, poll page", "POST", page, form, "vote=b", []string{"Origin", evil}, 403, true},
		{"form with Sec-Fetch-Site cross-site", "POST", page, form, "vote=b", []string{"Sec-Fetch-Site", "cross-site"}, 403, true},
		{"form with Sec-Fetch-Site cross-site and this Origin", "POST", page, form, "vote=b", []string{"Sec-Fetch-Site", "cross-site", "Origin", self}, 403, true},
		{"form from Origin null (sandboxed frame)", "POST", page, form, "vote=b", []string{"Origin", "null"}, 403, true},
		{"form from Origin null, same-site", "POST", page, form, "vote=b", []string{"Origin", "null", "Sec-Fetch-Site", "same-site"}, 403, true},
		{"form from Origin null, cross-site", "POST", page, form, "vote=b", []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}, 403, true},
		{"form from the result server's origin (same host, other port)", "POST", page, form, "vote=b", []string{"Origin", resultOrigin, "Sec-Fetch-Site", "same-site"}, 403, true},
		{"form from a foreign Origin claiming same-origin", "POST", page, form, "vote=b", []string{"Origin", evil, "Sec-Fetch-Site", "same-origin"}, 403, true},
		{"form from a malformed Origin", "POST", page, form, "vote=b", []string{"Origin", "evil.example"}, 403, true},
		{"multipart form from a foreign Origin", "POST", page, "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"vote\"\r\n\r\nb\r\n--x--\r\n", []string{"Origin", evil}, 403, true},
		{"text/plain form from a foreign Origin", "POST", "/", plain, "vote=b", []string{"Origin", evil}, 403, true},
		{"text/plain form, no Origin", "POST", "/", plain, "vote=b", nil, 415, false},
		{"text/plain form on a poll page, no Origin", "POST", page, plain, "vote=b", nil, 415, false},
		{"vote in the query string, empty body", "POST", "/?vote=b", form, "", nil, 400, false},
		{"vote in the query string, no content type", "POST", "/?vote=b", "", "", nil, 415, false},
		{"vote in the query string of a poll page, empty body", "POST", page + "?vote=b", form, "", nil, 400, false},
		{"vote in the query string, another field in the body", "POST", page + "?vote=b", form, "other=b", nil, 400, false},
		{"vote in the query string from a foreign Origin", "POST", "/?vote=b", form, "", []string{"Origin", evil}, 403, true},
		{"API vote from a foreign Origin", "POST", "/api/vote", js, `{"vote":"b"}`, []string{"Origin", evil}, 403, true},
		{"poll API vote with Sec-Fetch-Site cross-site", "POST", votes, js, `{"vote":"b"}`, []string{"Sec-Fetch-Site", "cross-site"}, 403, true},
		{"poll API vote as text/plain from a foreign Origin", "POST", votes, plain, `{"vote":"b"}`, []string{"Origin", evil}, 403, true},
		{"poll API vote as text/plain, no Origin", "POST", votes, plain, `{"vote":"b"}`, nil, 415, false},
		{"create a poll from a foreign Origin", "POST", "/api/polls", js, createBody("Forged?", []string{"Yes", "No"}), []string{"Origin", evil}, 403, true},
		{"create a poll by form from a foreign Origin", "POST", "/new", form, "question=Forged%3F&option=Yes&option=No", []string{"Origin", evil}, 403, true},
		{"close with the token from a foreign Origin", "POST", "/api/polls/" + p.ID + "/close", "", "", []string{"Origin", evil, "Authorization", bearer}, 403, true},
		{"close by the manage form from a foreign Origin", "POST", page + "/manage", form, manageForm, []string{"Origin", evil}, 403, true},
		{"close by the manage form, Origin null, cross-site", "POST", page + "/manage", form, manageForm, []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}, 403, true},
	}
	refusedBefore := metric(t, vote, "vote_cross_site_refused_total")
	wantRefused := 0
	for _, tt := range tests {
		if tt.crossSite {
			wantRefused++
		}
		t.Run(tt.name, func(t *testing.T) {
			code, body, h := request(t, noRedirects, tt.method, vote.url(tt.path), tt.ctype, tt.body, tt.headers...)
			if code != tt.want {
				t.Errorf("got %d %.200s, want %d", code, body, tt.want)
			}
			if strings.TrimSpace(string(body)) == "" {
				t.Errorf("got an empty body, want a message saying why")
			}
			if c := h.Get("Set-Cookie"); tt.crossSite && strings.Contains(c, "voter_id=") {
				t.Errorf("a refused cross-site post got a voter id: %s", c)
			}
		})
	}
	if got := metric(t, vote, "vote_cross_site_refused_total") - refusedBefore; got != float64(wantRefused) {
		t.Errorf("vote_cross_site_refused_total rose by %v, want %d", got, wantRefused)
	}

	// What this site's own pages send, and programs without a browser,
	// still vote: each a voter of its own.
	same := []struct {
		name    string
		path    string
		headers []string
		option  string
	}{
		{"this origin, same-origin", page, []string{"Origin", self, "Sec-Fetch-Site", "same-origin"}, "a"},
		{"Origin null, same-origin (a no-referrer page of this site)", page, []string{"Origin", "null", "Sec-Fetch-Site", "same-origin"}, "a"},
		{"a typed address (Sec-Fetch-Site none)", page, []string{"Sec-Fetch-Site", "none"}, "c"},
		{"no browser headers (curl)", page, nil, "c"},
	}
	want := map[string]string{}
	for _, s := range same {
		v := newVoter(t)
		code, body, _ := request(t, v.client, http.MethodPost, vote.url(s.path), form, url.Values{"vote": {s.option}}.Encode(), s.headers...)
		if code != http.StatusOK {
			t.Errorf("%s: got %d %.200s, want 200 (the page showing the choice)", s.name, code, body)
			continue
		}
		id := v.cookie(vote, "voter_id")
		if id == "" {
			t.Errorf("%s: no voter_id cookie after the vote", s.name)
			continue
		}
		want[id] = s.option
	}

	// Once the worker has applied the stream, the ballots are those four
	// and no other; the poll is open; no poll was created.
	counts := map[string]int64{}
	for _, o := range want {
		counts[o]++
	}
	waitFor(t, 15*time.Second, "the same-site votes in PostgreSQL", func() bool {
		return sameCounts(countsTally(withZeros(e.pollCounts(p.ID), []string{"a", "b", "c"})), withZeros(counts, []string{"a", "b", "c"}))
	})
	e.checkPollRows(p.ID, want)
	e.checkPollRows(poll.DefaultID, map[string]string{})
	var polls int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM polls").Scan(&polls); err != nil {
		t.Fatal(err)
	}
	if polls != 2 {
		t.Errorf("PostgreSQL holds %d polls, want 2 (default and %s): a cross-site create went through", polls, p.ID)
	}
	if code, got, body := getPoll(t, vote, p.ID); code != http.StatusOK || got.State != poll.StateOpen {
		t.Errorf("GET /api/polls/%s after cross-site closes: %d %s, want it open", p.ID, code, body)
	}
}

// countsTally is a tally of the given counts, its total their sum, for
// comparing the database's counts with sameCounts.
func countsTally(counts map[string]int64) tally.Tally {
	tl := tally.Tally{Counts: counts}
	for _, n := range counts {
		tl.Total += n
	}
	return tl
}
