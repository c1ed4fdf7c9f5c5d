package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"livevote/shared/poll"
)

// TestUnknownPollIs404 asks both servers, on every per-poll route, for
// polls that do not exist (a well-formed id, one too long, one with
// characters no id has): each answers 404, the WebSocket before the
// upgrade, and nothing is recorded.
func TestUnknownPollIs404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, _, vote := e.startAll()
	form := "application/x-www-form-urlencoded"
	for _, id := range []string{"nope", strings.Repeat("x", poll.MaxIDLen+1), "Nope_1"} {
		routes := []struct {
			server                    *proc
			method, path, ctype, body string
			headers                   []string
		}{
			{vote, "GET", "/p/" + id, "", "", nil},
			{vote, "POST", "/p/" + id, form, "vote=a", nil},
			{vote, "GET", "/api/polls/" + id, "", "", nil},
			{vote, "GET", "/p/" + id + "/manage?token=" + poll.NewManageToken(), "", "", nil},
			{vote, "POST", "/api/polls/" + id + "/votes", "application/json", `{"vote":"a"}`, nil},
			{vote, "POST", "/api/polls/" + id + "/close", "", "", []string{"Authorization", "Bearer " + poll.NewManageToken()}},
			{vote, "POST", "/api/polls/" + id + "/reopen", "", "", []string{"Authorization", "Bearer " + poll.NewManageToken()}},
			{result, "GET", "/p/" + id, "", "", nil},
			{result, "GET", "/p/" + id + "/present", "", "", nil},
			{result, "GET", "/api/polls/" + id + "/tally", "", "", nil},
			{result, "GET", "/api/polls/" + id + "/results.csv", "", "", nil},
		}
		for _, r := range routes {
			t.Run(fmt.Sprintf("%s %s %s", r.server.name, r.method, r.path), func(t *testing.T) {
				code, body, _ := request(t, nil, r.method, r.server.url(r.path), r.ctype, r.body, r.headers...)
				if code != http.StatusNotFound {
					t.Errorf("got %d %.200s, want 404", code, body)
				}
				if strings.TrimSpace(string(body)) == "" {
					t.Errorf("got an empty body, want a page or message saying the poll does not exist")
				}
			})
		}
		t.Run("result WebSocket /ws?poll="+id, func(t *testing.T) {
			conn, resp, err := websocket.DefaultDialer.Dial("ws://"+result.addr+"/ws?poll="+id, nil)
			if err == nil {
				conn.Close()
				t.Fatal("the WebSocket upgrade succeeded, want 404 before the upgrade")
			}
			if resp == nil || resp.StatusCode != http.StatusNotFound {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("got %v (status %d), want 404 before the upgrade", err, status)
			}
		})
	}
	if n, err := e.rdb.XLen(context.Background(), e.stream()).Result(); err != nil || n != 0 {
		t.Errorf("stream holds %d entries (err %v) after requests for unknown polls only, want 0", n, err)
	}
}

// TestPollBadInputRecordsNothing sends the contract's bad-input table to
// the poll routes: each answers its status with a message and records
// nothing (no stream entry, no poll copy, no ballot, the poll still open).
func TestPollBadInputRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vote := e.start("vote")
	gated := e.start("vote", "POLL_CREATE_TOKEN=let-me-create-polls")
	defs := pollDefs(t)
	three := createPoll(t, vote, defs["three"])
	other := createPoll(t, vote, defs["two"])
	ctx := context.Background()
	entries, err := e.rdb.XLen(ctx, e.stream()).Result()
	if err != nil {
		t.Fatal(err)
	}
	keys := e.pollKeys()

	labels := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("Option %d", i+1)
		}
		return l
	}
	create := func(q string, opts []string) string { return createBody(q, opts) }
	const js, form = "application/json", "application/x-www-form-urlencoded"
	votes := "/api/polls/" + three.ID + "/votes"
	page := "/p/" + three.ID
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	tests := []struct {
		name          string
		server        *proc
		path, ctype   string
		body          string
		headers       []string
		want          int
		wantJSONError bool
	}{
		{"create: one option", vote, "/api/polls", js, create("Q?", labels(1)), nil, 400, true},
		{"create: no options", vote, "/api/polls", js, `{"question":"Q?"}`, nil, 400, true},
		{"create: 13 options", vote, "/api/polls", js, create("Q?", labels(13)), nil, 400, true},
		{"create: empty label", vote, "/api/polls", js, create("Q?", []string{"Red", ""}), nil, 400, true},
		{"create: blank label", vote, "/api/polls", js, create("Q?", []string{"Red", "  \t "}), nil, 400, true},
		{"create: duplicate labels", vote, "/api/polls", js, create("Q?", []string{"Red", "Blue", "Red"}), nil, 400, true},
		{"create: duplicate labels, other case", vote, "/api/polls", js, create("Q?", []string{"Red", "Blue", "rED"}), nil, 400, true},
		{"create: duplicate labels after trimming", vote, "/api/polls", js, create("Q?", []string{"Red", " Red "}), nil, 400, true},
		{"create: label over 80 characters", vote, "/api/polls", js, create("Q?", []string{"Red", strings.Repeat("b", 81)}), nil, 400, true},
		{"create: question over 200 characters", vote, "/api/polls", js, create(strings.Repeat("q", 201), labels(2)), nil, 400, true},
		{"create: question over 200 characters, multibyte", vote, "/api/polls", js, create(strings.Repeat("é", 201), labels(2)), nil, 400, true},
		{"create: empty question", vote, "/api/polls", js, create("   ", labels(2)), nil, 400, true},
		{"create: options not strings", vote, "/api/polls", js, `{"question":"Q?","options":[1,2]}`, nil, 400, true},
		{"create: malformed JSON", vote, "/api/polls", js, `{"question":"Q?","options":["a",`, nil, 400, true},
		{"create: trailing garbage", vote, "/api/polls", js, create("Q?", labels(2)) + "x", nil, 400, true},
		{"create: body over 16 KiB", vote, "/api/polls", js, `{"question":"Q?","options":["a","b"],"pad":"` + strings.Repeat("x", 17<<10) + `"}`, nil, 413, false},
		{"create: text/plain", vote, "/api/polls", "text/plain", create("Q?", labels(2)), nil, 415, false},
		{"create: form body", vote, "/api/polls", form, "question=Q%3F&options=a&options=b", nil, 415, false},
		{"create: no content type", vote, "/api/polls", "", create("Q?", labels(2)), nil, 415, false},
		{"create without the token when POLL_CREATE_TOKEN is set", gated, "/api/polls", js, create("Q?", labels(2)), nil, 401, true},
		{"create with a wrong token when POLL_CREATE_TOKEN is set", gated, "/api/polls", js, create("Q?", labels(2)), bearer("let-me-create-poll"), 401, true},
		{"vote: option the poll lacks", vote, votes, js, `{"vote":"d"}`, nil, 400, true},
		{"vote: option no poll has", vote, votes, js, `{"vote":"m"}`, nil, 400, true},
		{"vote: upper-case id", vote, votes, js, `{"vote":"A"}`, nil, 400, true},
		{"vote: label instead of id", vote, votes, js, `{"vote":"Go, in depth"}`, nil, 400, true},
		{"vote: missing", vote, votes, js, `{}`, nil, 400, true},
		{"vote: malformed JSON", vote, votes, js, `{"vote":`, nil, 400, true},
		{"vote: body over 4 KiB", vote, votes, js, `{"vote":"a","pad":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, false},
		{"vote: form body on the API", vote, votes, form, "vote=a", nil, 415, false},
		{"vote: no content type", vote, votes, "", `{"vote":"a"}`, nil, 415, false},
		{"form: option the poll lacks", vote, page, form, "vote=d", nil, 400, false},
		{"form: no vote field", vote, page, form, "other=a", nil, 400, false},
		{"form: vote in the query string only", vote, page + "?vote=a", form, "", nil, 400, false},
		{"form: JSON body", vote, page, js, `{"vote":"a"}`, nil, 415, false},
		{"form: text/plain body", vote, page, "text/plain", "vote=a", nil, 415, false},
		{"form: over 4 KiB", vote, page, form, "vote=a&pad=" + strings.Repeat("x", 5000), nil, 413, false},
		{"close: no token", vote, "/api/polls/" + three.ID + "/close", "", "", nil, 403, true},
		{"close: wrong token", vote, "/api/polls/" + three.ID + "/close", "", "", bearer(poll.NewManageToken()), 403, true},
		{"close: another poll's token", vote, "/api/polls/" + three.ID + "/close", "", "", bearer(other.ManageToken), 403, true},
		{"close: the token, not as a Bearer", vote, "/api/polls/" + three.ID + "/close", "", "", []string{"Authorization", three.ManageToken}, 403, true},
		{"close: the token's hash", vote, "/api/polls/" + three.ID + "/close", "", "", bearer(poll.HashToken(three.ManageToken)), 403, true},
		{"reopen: wrong token", vote, "/api/polls/" + three.ID + "/reopen", "", "", bearer(poll.NewManageToken()), 403, true},
		{"close the default poll, which nobody manages", vote, "/api/polls/default/close", "", "", bearer(poll.NewManageToken()), 403, true},
		{"close the default poll with an empty token", vote, "/api/polls/default/close", "", "", []string{"Authorization", "Bearer "}, 403, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := request(t, nil, http.MethodPost, tt.server.url(tt.path), tt.ctype, tt.body, tt.headers...)
			if code != tt.want {
				t.Errorf("got %d %.200s, want %d", code, body, tt.want)
			}
			if strings.TrimSpace(string(body)) == "" {
				t.Errorf("got an empty body, want a message saying what is wrong")
			}
			if tt.wantJSONError {
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("got body %.200s, want {\"error\":\"…\"}", body)
				}
			}
		})
	}
	// The manage page: only for the holder of the token.
	manageURL, err := url.Parse(three.ManageURL)
	if err != nil {
		t.Fatalf("manage_url %q: %v", three.ManageURL, err)
	}
	q := manageURL.Query()
	if q.Get("token") != three.ManageToken {
		t.Logf("manage_url %s does not carry the token as ?token=; the refusals below assume it does", three.ManageURL)
	}
	for _, tt := range []struct {
		name, token string
		want        int
	}{
		{"manage page without the token", "", 403},
		{"manage page with a wrong token", poll.NewManageToken(), 403},
		{"manage page with another poll's token", other.ManageToken, 403},
		{"manage page with the token", three.ManageToken, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q.Set("token", tt.token)
			if tt.token == "" {
				q.Del("token")
			}
			manageURL.RawQuery = q.Encode()
			code, body, _ := request(t, nil, http.MethodGet, vote.url(manageURL.RequestURI()), "", "")
			if code != tt.want {
				t.Errorf("GET %s: got %d, want %d", manageURL.Path, code, tt.want)
			}
			if shows := strings.Contains(string(body), three.VoteURL); shows != (tt.want == 200) {
				t.Errorf("GET %s answered %d; shows the vote link: %v, want %v", manageURL.Path, code, shows, tt.want == 200)
			}
		})
	}

	if n, err := e.rdb.XLen(ctx, e.stream()).Result(); err != nil || n != entries {
		t.Errorf("stream holds %d entries (err %v) after bad input only, want the %d of the two creates", n, err, entries)
	}
	if got := e.pollKeys(); len(got) != len(keys) {
		t.Errorf("Redis holds the poll copies %v after bad input only, want %v", got, keys)
	}
	if code, p, body := getPoll(t, vote, three.ID); code != http.StatusOK || p.State != poll.StateOpen {
		t.Errorf("GET /api/polls/%s after refused closes: got %d %s, want it open", three.ID, code, body)
	}

	// What is right still works: the token that POLL_CREATE_TOKEN names,
	// and a definition within the limits that is over 4 KiB as JSON
	// (multibyte labels at their longest): only votes are capped at 4 KiB.
	gatedPoll := createPoll(t, gated, defs["two"], "Authorization", "Bearer let-me-create-polls")
	big := pollDef{Name: "big", Question: strings.Repeat("¿", poll.MaxQuestion)}
	for i := 0; i < poll.MaxOptions; i++ {
		big.Options = append(big.Options, fmt.Sprintf("%c", 'A'+i)+strings.Repeat("🗳", poll.MaxLabel-1))
	}
	if n := len(createBody(big.Question, big.Options)); n <= 4<<10 || n > 16<<10 {
		t.Fatalf("the big definition is %d bytes, want between 4 and 16 KiB", n)
	}
	bigPoll := createPoll(t, vote, big)

	// Nothing of the bad input reached PostgreSQL either: once a worker
	// has applied the stream, the polls are the four created and the
	// default, and no poll has a ballot.
	e.start("worker").waitReady()
	waitFor(t, 15*time.Second, "the worker to apply the creates", func() bool {
		n, err := e.rdb.XLen(ctx, e.stream()).Result()
		return err == nil && n == 0
	})
	var polls, ballots int
	var states string
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM polls), (SELECT count(*) FROM ballots),
		(SELECT string_agg(DISTINCT state, ',') FROM polls)`).Scan(&polls, &ballots, &states); err != nil {
		t.Fatal(err)
	}
	if polls != 5 || ballots != 0 || states != poll.StateOpen {
		t.Errorf("PostgreSQL holds %d polls, %d ballots, states %q; want 5 (%s, %s, %s, %s and default), 0 ballots, all open",
			polls, ballots, states, three.ID, other.ID, gatedPoll.ID, bigPoll.ID)
	}
}

// pollKeys lists the vote servers' poll copies in Redis for the test's stream.
func (e *env) pollKeys() []string {
	e.t.Helper()
	keys, err := e.rdb.Keys(context.Background(), e.stream()+":*:poll:*").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}
