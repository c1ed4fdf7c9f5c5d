package web

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/ballot"
	"livevote/shared/fiberops"
	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/vote/internal/config"
)

// The handler fuzz tests send each input through the whole app with
// app.Test, against the fake store: slower than a parser alone, but what
// they check is what the vote server answers and records.

// fuzzApp is one vote server for a whole fuzz test, and its store.
type fuzzApp struct {
	app    *fiber.App
	store  *fakeStore
	signer *ballot.VoterSigner
}

func newFuzzApp(f *testing.F) *fuzzApp {
	f.Helper()
	cfg, err := config.Load(func(k string) string { return map[string]string{"OPTION_A": "Tea", "OPTION_B": "Coffee"}[k] })
	if err != nil {
		f.Fatal(err)
	}
	q := &fakeStore{}
	logger := slog.New(slog.DiscardHandler)
	mon := health.NewMonitor(logger, time.Second, health.Check{Name: "redis", Probe: q.Ping})
	app, err := NewServer(logger, cfg, q, testVoters(f), &fakeLimits{}, mon, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzApp{app: app, store: q, signer: testSigner(f)}
}

// outcome is what one request did: its answer and the votes it appended.
type outcome struct {
	status int
	body   string
	voter  string // the voter_id cookie set, "" for none
	votes  []appended
}

// post sends a POST to target; ok is false when net/http cannot even
// write such a request (a fuzzed target or header it refuses).
func (a *fuzzApp) post(t *testing.T, target, contentType string, body []byte, voterSent string) (outcome, bool) {
	t.Helper()
	req, err := http.NewRequest(fiber.MethodPost, "http://vote.test"+target, bytes.NewReader(body))
	if err != nil {
		return outcome{}, false
	}
	if contentType != "" {
		req.Header.Set(fiber.HeaderContentType, contentType)
	}
	if voterSent != "" {
		req.Header.Set(fiber.HeaderCookie, voterCookie+"="+voterSent)
	}
	before := len(a.store.votes())
	resp, err := a.app.Test(req, 10000)
	if err != nil {
		// fasthttp refused the request before any handler (a multipart
		// body it cannot read): status 0, and nothing may be recorded.
		return outcome{votes: a.store.votes()[before:]}, true
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	o := outcome{status: resp.StatusCode, body: string(b), votes: a.store.votes()[before:]}
	if c := cookie(resp, voterCookie); c != nil {
		o.voter = c.Value
	}
	return o, true
}

// checkVote fails t unless o recorded at most one vote, and a valid one
// only with the success status ok: an option of the default poll, by a
// voter this server signed: the cookie's (cookieSent is the voter_id
// cookie's value as sent, which may hold more cookies) or else a new one
// the answer sets.
func (a *fuzzApp) checkVote(t *testing.T, o outcome, ok int, cookieSent string) {
	t.Helper()
	switch {
	case len(o.votes) > 1:
		t.Fatalf("one request appended %d votes: %+v", len(o.votes), o.votes)
	case len(o.votes) == 0:
		if o.status == ok {
			t.Fatalf("answered %d with no vote recorded", o.status)
		}
		return
	case o.status != ok:
		t.Fatalf("answered %d, yet recorded %+v", o.status, o.votes[0])
	}
	v := o.votes[0]
	if v.poll != poll.DefaultID || v.option != "a" && v.option != "b" {
		t.Fatalf("recorded %+v: not an option of the default poll", v)
	}
	if !a.signer.Check(v.voter) || !ballot.ValidVoterID(v.voter) {
		t.Fatalf("recorded voter %q, which this server did not sign", v.voter)
	}
	switch {
	case a.signer.Check(cookieSent) && (v.voter != cookieSent || o.voter != ""):
		t.Fatalf("cookie %q is this server's, yet the vote is %q's (cookie set: %q)", cookieSent, v.voter, o.voter)
	case o.voter != "" && (o.voter != v.voter || v.voter == cookieSent):
		t.Fatalf("cookie %q: the vote is %q's, the answer sets a new voter %q", cookieSent, v.voter, o.voter)
	case o.voter == "" && !strings.Contains(cookieSent, v.voter):
		t.Fatalf("cookie %q: the vote is %q's, a voter neither sent nor set", cookieSent, v.voter)
	}
}

// isMediaType reports whether contentType is one of want, parameters aside.
func isMediaType(contentType string, want ...string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, w := range want {
		if mt == w {
			return true
		}
	}
	return false
}

// voterSeeds are voter_id cookies: this server's, altered, foreign, made up.
func voterSeeds(f *testing.F) []string {
	good := testSigner(f).Issue()
	other, err := ballot.NewVoterSigner([]byte(strings.Repeat("another installation", 2)))
	if err != nil {
		f.Fatal(err)
	}
	altered := []byte(good)
	altered[len(altered)-1] ^= 1
	return []string{good, "", string(altered), other.Issue(), good[:ballot.VoterIDLen], ballot.NewVoterID(),
		good + "x", strings.Repeat("A", ballot.SignedVoterIDLen), good + "; vote=b"}
}

// FuzzFormVote posts the HTML form's vote: urlencoded or multipart bodies,
// any content type, a query string and a voter_id cookie, all fuzzed. A
// vote is recorded only from a form body (415 for any other type) and
// never from the query string, only for an option of the poll, by the
// cookie's voter only when this server signed it.
func FuzzFormVote(f *testing.F) {
	a := newFuzzApp(f)
	voters := voterSeeds(f)
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.SetBoundary("fuzzboundary")
	_ = w.WriteField("vote", "b")
	_ = w.Close()
	for i, s := range []struct {
		contentType, body, query string
	}{
		{fiber.MIMEApplicationForm, "vote=a", ""},
		{fiber.MIMEApplicationForm + "; charset=UTF-8", "vote=b&vote=a", ""},
		{"multipart/form-data; boundary=fuzzboundary", mp.String(), ""},
		{"multipart/form-data", mp.String(), ""},
		{"multipart/form-data; boundary=fuzzboundary", "--fuzzboundary\r\nContent-Disposition: form-data; name=\"vote\"\r\n\r\na", ""},
		{"text/plain", "vote=b", "vote=b"}, // the hidden form of another site
		{"", "vote=a", ""},
		{fiber.MIMEApplicationForm, "", "vote=b"}, // a link that would vote
		{fiber.MIMEApplicationForm, "other=1", "vote=a"},
		{fiber.MIMEApplicationJSON, `{"vote":"a"}`, ""},
		{fiber.MIMEApplicationForm, "vote=c", ""},
		{fiber.MIMEApplicationForm, "vote=%61", ""},
		{fiber.MIMEApplicationForm, "vote=a%00", ""},
		{fiber.MIMEApplicationForm, "vote=%zz&vote=a", ""},
		{fiber.MIMEApplicationForm, "vote=a;vote=b", ""},
		{fiber.MIMEApplicationForm, "VOTE=a", ""},
		{fiber.MIMEApplicationForm, "vote=" + strings.Repeat("a", 5000), ""},
		{fiber.MIMEApplicationForm, strings.Repeat("x=1&", 1000) + "vote=a", ""},
		{"application/x-www-form-urlencoded; charset=\"", "vote=a", ""},
		{"APPLICATION/X-WWW-FORM-URLENCODED", "vote=a", ""},
	} {
		f.Add(s.contentType, []byte(s.body), s.query, voters[i%len(voters)])
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, query, voter string) {
		target := "/"
		if query != "" {
			target += "?" + query
		}
		o, ok := a.post(t, target, contentType, body, voter)
		if !ok {
			return
		}
		a.checkVote(t, o, fiber.StatusOK, voter)
		if o.status == 0 {
			return // not even read as a request
		}
		if !isMediaType(contentType, fiber.MIMEApplicationForm, fiber.MIMEMultipartForm) {
			if o.status != fiber.StatusUnsupportedMediaType && o.status != fiber.StatusRequestEntityTooLarge {
				t.Fatalf("a post in %q answered %d, want 415", contentType, o.status)
			}
		}
		if query == "" {
			return
		}
		// The same post without its query string records the same.
		plain, ok := a.post(t, "/", contentType, body, voter)
		if !ok {
			return
		}
		if o.status == 0 {
			return // the query made it no request
		}
		if plain.status != o.status || len(plain.votes) != len(o.votes) ||
			len(o.votes) == 1 && plain.votes[0].option != o.votes[0].option {
			t.Fatalf("query %q changed the vote: %d %+v with it, %d %+v without", query, o.status, o.votes, plain.status, plain.votes)
		}
	})
}

// FuzzAPIVote posts the vote API's JSON body, content type and voter_id
// cookie fuzzed. 202 comes with exactly one vote recorded and an answer
// that says it; anything else records nothing and answers a JSON error.
func FuzzAPIVote(f *testing.F) {
	a := newFuzzApp(f)
	voters := voterSeeds(f)
	for i, s := range []struct{ contentType, body string }{
		{fiber.MIMEApplicationJSON, `{"vote":"a"}`},
		{fiber.MIMEApplicationJSON + "; charset=utf-8", `{"vote":"b"}`},
		{fiber.MIMEApplicationJSON, `{"vote":"c"}`},
		{fiber.MIMEApplicationJSON, `{"vote":"a"} {"vote":"b"}`},
		{fiber.MIMEApplicationJSON, `{"vote":"a","vote":"b"}`},
		{fiber.MIMEApplicationJSON, `{"VOTE":"b"}`},
		{fiber.MIMEApplicationJSON, `{"vote":"a\u0000"}`},
		{fiber.MIMEApplicationJSON, `{"vote":"\"},\"x\":{\""}`},
		{fiber.MIMEApplicationJSON, "{\"vote\":\"\xff\"}"},
		{fiber.MIMEApplicationJSON, `{"vote":["a"]}`},
		{fiber.MIMEApplicationJSON, `null`},
		{fiber.MIMEApplicationJSON, ``},
		{fiber.MIMEApplicationJSON, `{"vote":"a","pad":"` + strings.Repeat("x", 4100) + `"}`},
		{fiber.MIMEApplicationJSON, strings.Repeat(`[`, 3000)},
		{"text/plain", `{"vote":"a"}`},
		{fiber.MIMEApplicationForm, "vote=a"},
		{"", `{"vote":"a"}`},
		{"application/json-patch+json", `{"vote":"a"}`},
	} {
		f.Add(s.contentType, []byte(s.body), voters[i%len(voters)])
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, voter string) {
		o, ok := a.post(t, "/api/vote", contentType, body, voter)
		if !ok {
			return
		}
		a.checkVote(t, o, fiber.StatusAccepted, voter)
		if o.status == 0 {
			return // not even read as a request
		}
		if o.status == fiber.StatusAccepted {
			var got ballot.Accepted
			dec := json.NewDecoder(strings.NewReader(o.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil || got != (ballot.Accepted{VoterID: o.votes[0].voter, Vote: o.votes[0].option}) {
				t.Fatalf("answer %s (%v) does not say the vote recorded, %+v", o.body, err, o.votes[0])
			}
			return
		}
		var e errorBody
		if err := json.Unmarshal([]byte(o.body), &e); err != nil || e.Error == "" {
			t.Fatalf("answer %d %q is not a JSON error", o.status, o.body)
		}
		var req ballot.Request
		switch {
		case !isMediaType(contentType, fiber.MIMEApplicationJSON):
			if o.status != fiber.StatusUnsupportedMediaType && o.status != fiber.StatusRequestEntityTooLarge {
				t.Fatalf("a vote in %q answered %d, want 415", contentType, o.status)
			}
		case len(body) > maxBody:
			if o.status != fiber.StatusRequestEntityTooLarge {
				t.Fatalf("a body of %d bytes answered %d, want 413", len(body), o.status)
			}
		case json.Unmarshal(body, &req) != nil:
			if o.status != fiber.StatusBadRequest {
				t.Fatalf("malformed JSON %q answered %d, want 400", body, o.status)
			}
		case req.Vote == "a" || req.Vote == "b":
			t.Fatalf("a vote for %q answered %d %s", req.Vote, o.status, o.body)
		}
	})
}

// FuzzCreatePoll posts poll definitions to POST /api/polls. 201 creates
// exactly the poll the answer shows, one that follows the rules (the
// worker's rules included: it checks the definition again); anything else
// creates nothing.
func FuzzCreatePoll(f *testing.F) {
	a := newFuzzApp(f)
	for _, s := range []string{
		`{"question":"Which colour?","options":["Red","Green","Blue"]}`,
		`{"question":"  Lunch?  ","options":[" Pizza ","Soup"]}`,
		`{"question":"q","options":["a"]}`,
		`{"question":"q","options":["a","A"]}`,
		`{"question":"q","options":["a","b","c","d","e","f","g","h","i","j","k","l","m"]}`,
		`{"question":"` + strings.Repeat("q", 201) + `","options":["a","b"]}`,
		`{"question":"q\u0000","options":["a","b"]}`,
		"{\"question\":\"q\xff\",\"options\":[\"a\",\"b\"]}",
		`{"question":"<script>alert(1)</script>","options":["<b>x</b>","&amp;"]}`,
		`{"question":"q","options":["a","b"]} {"question":"again"}`,
		`{"question":"q","options":["a","b"],"id":"mine","token_hash":"x"}`,
		`{"question":"q","options":"a,b"}`,
		`{"question":"q","options":[` + strings.Repeat(`"x",`, 4000) + `"y"]}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := a.store.pollCount()
		o, ok := a.post(t, "/api/polls", fiber.MIMEApplicationJSON, body, "")
		if !ok {
			return
		}
		created := a.store.pollCount() - before
		if o.status != fiber.StatusCreated {
			if created != 0 {
				t.Fatalf("answered %d %s, yet created %d polls", o.status, o.body, created)
			}
			if len(body) > maxCreateBody && o.status != fiber.StatusRequestEntityTooLarge {
				t.Fatalf("a body of %d bytes answered %d, want 413", len(body), o.status)
			}
			return
		}
		if created != 1 {
			t.Fatalf("answered 201, created %d polls", created)
		}
		var got poll.Created
		if err := json.Unmarshal([]byte(o.body), &got); err != nil {
			t.Fatalf("answer %q: %v", o.body, err)
		}
		stored, err := a.store.Load(t.Context(), got.ID)
		if err != nil {
			t.Fatalf("created poll %q is not in the store: %v", got.ID, err)
		}
		if !stored.Record.TokenMatches(got.ManageToken) {
			t.Fatalf("the manage token of %q does not match the stored hash", got.ID)
		}
		var req poll.CreateRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("created a poll from malformed JSON %q", body)
		}
		again, err := poll.New(got.ID, req.Question, req.Options, got.CreatedAt)
		if err != nil {
			t.Fatalf("created a poll from a definition poll.New refuses: %v", err)
		}
		if !reflect.DeepEqual(again, got.Poll) || !reflect.DeepEqual(stored.Record.Poll, got.Poll) {
			t.Fatalf("answer %+v, stored %+v, want %+v", got.Poll, stored.Record.Poll, again)
		}
		for _, text := range append([]string{got.Question}, labelsOf(got.Poll)...) {
			if strings.ContainsRune(text, 0) || !utf8.ValidString(text) {
				t.Fatalf("created %+v: text PostgreSQL does not take, so the worker drops the poll", got.Poll)
			}
		}
	})
}

// pollCount is how many polls q holds.
func (q *fakeStore) pollCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.polls)
}

func labelsOf(p poll.Poll) []string {
	l := make([]string, len(p.Options))
	for i, o := range p.Options {
		l[i] = o.Label
	}
	return l
}

// formEcho is an app whose one route answers the fields formBody read, as
// JSON, so that the parser is checked alone.
func formEcho() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/", func(c *fiber.Ctx) error {
		fields, err := formBody(c)
		if err != nil {
			return c.Status(fiber.StatusUnsupportedMediaType).SendString(err.Error())
		}
		// In hex: JSON would change bytes that are not UTF-8.
		out := map[string][]string{}
		for k, vs := range fields {
			for _, v := range vs {
				out[hex.EncodeToString([]byte(k))] = append(out[hex.EncodeToString([]byte(k))], hex.EncodeToString([]byte(v)))
			}
		}
		return c.JSON(out)
	})
	return app
}

func echo(t *testing.T, app *fiber.App, target, contentType string, body []byte) (int, map[string][]string) {
	t.Helper()
	req, err := http.NewRequest(fiber.MethodPost, "http://vote.test"+target, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set(fiber.HeaderContentType, contentType)
	resp, err := app.Test(req, 10000)
	if err != nil {
		return 0, nil // a request fasthttp does not read (a space in the query)
	}
	defer resp.Body.Close()
	var encoded map[string][]string
	if resp.StatusCode != fiber.StatusOK {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&encoded); err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for k, vs := range encoded {
		key, _ := hex.DecodeString(k)
		for _, v := range vs {
			value, _ := hex.DecodeString(v)
			fields[string(key)] = append(fields[string(key)], string(value))
		}
	}
	return resp.StatusCode, fields
}

// FuzzFormBody checks the form parser alone: the fields of a form written
// by net/url or mime/multipart come back as written, in both encodings,
// and a query string never adds to them.
func FuzzFormBody(f *testing.F) {
	app := formEcho()
	f.Add(false, "vote", "a", "option", "Red", "vote=b")
	f.Add(true, "vote", "a", "option", "Red", "vote=b")
	f.Add(false, "option", "x", "option", "y", "")
	f.Add(true, "question", "Ñandú?\r\n", "option", "", "question=evil")
	f.Add(false, "a b", "c&d=e", "%zz", "+", "a+b=c")
	f.Add(true, "vote", "--fuzzboundary", "x", "\x00\xff", "")
	f.Fuzz(func(t *testing.T, multi bool, k1, v1, k2, v2, query string) {
		if k1 == "" || k2 == "" {
			t.Skip("a field has a name")
		}
		want := map[string][]string{}
		want[k1] = append(want[k1], v1)
		want[k2] = append(want[k2], v2)
		var body []byte
		var contentType string
		if multi {
			if strings.ContainsFunc(k1+k2, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' || r == '\\' }) || !utf8.ValidString(k1+k2) {
				t.Skip("mime/multipart writes such names as they are")
			}
			var b bytes.Buffer
			w := multipart.NewWriter(&b)
			if strings.Contains(v1+v2, "--"+w.Boundary()) {
				t.Skip("a value holds the boundary")
			}
			_ = w.WriteField(k1, v1)
			_ = w.WriteField(k2, v2)
			_ = w.Close()
			body, contentType = b.Bytes(), w.FormDataContentType()
		} else {
			body, contentType = []byte(url.Values(want).Encode()), fiber.MIMEApplicationForm
			if k1 == k2 {
				// url.Values.Encode writes one name's values in order.
				body = []byte(url.QueryEscape(k1) + "=" + url.QueryEscape(v1) + "&" + url.QueryEscape(k2) + "=" + url.QueryEscape(v2))
			}
		}
		status, got := echo(t, app, "/", contentType, body)
		if status != fiber.StatusOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("form %q in %s: got %d %q, want %q", body, contentType, status, got, want)
		}
		if query != "" {
			if status, withQuery := echo(t, app, "/?"+query, contentType, body); status != 0 && !reflect.DeepEqual(withQuery, got) {
				t.Fatalf("query %q changed the fields: %q, want %q", query, withQuery, got)
			}
		}
	})
}

// FuzzCrossSite feeds the headers browsers send with a post to crossSite:
// what it lets through is a request of no browser, a typed address, or a
// page of this very host and port.
func FuzzCrossSite(f *testing.F) {
	for _, s := range [][3]string{
		{"", "", "vote.example.com"},
		{"same-origin", "https://vote.example.com", "vote.example.com"},
		{"", "http://vote.example.com:8080", "vote.example.com:8080"},
		{"cross-site", "https://evil.example", "vote.example.com"},
		{"", "https://evil.example", "vote.example.com"},
		{"same-site", "https://sub.example.com", "vote.example.com"},
		{"none", "", "vote.example.com"},
		{"same-origin", "null", "vote.example.com"},
		{"", "null", "vote.example.com"},
		{"same-site", "null", "vote.example.com"},
		{"", "http://vote.example.com", "vote.example.com:8080"},
		{"", "http://[::1]:8080", "[::1]:8080"},
		{"", "http://VOTE.example.com", "vote.EXAMPLE.com"},
		{"Same-Origin", "http://vote.example.com", "vote.example.com"},
		{"", "http://]", "]"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, fetchSite, origin, host string) {
		cross := crossSite(fetchSite, origin, host)
		switch fetchSite {
		case "", "same-origin", "same-site", "none":
		default:
			if !cross {
				t.Fatalf("crossSite(%q, %q, %q) let a cross-site fetch through", fetchSite, origin, host)
			}
			return
		}
		if cross || origin == "" || origin == "null" && fetchSite == "same-origin" {
			return
		}
		o, err := fiberops.ParseOrigin(origin)
		if err != nil || !o.SameHostPort(host) {
			t.Fatalf("crossSite(%q, %q, %q) let through an origin that is not this host and port (%+v, %v)", fetchSite, origin, host, o, err)
		}
	})
}
