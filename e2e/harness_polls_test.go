package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// The harness's side of polls: the fixtures of testdata/, the poll API of
// the vote server (create, vote through the API and the form, close,
// reopen), the result server's per-poll routes, NATS per subject and the
// ballots rows per poll.

// fixture reads a file of the top-level testdata/ folder.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// pollDef is one definition of testdata/polls.json: a handle for the tests,
// and what a person would type.
type pollDef struct {
	Name     string   `json:"name"`
	Question string   `json:"question"`
	Options  []string `json:"options"`
}

// pollDefs returns the definitions of testdata/polls.json by name.
func pollDefs(t testing.TB) map[string]pollDef {
	t.Helper()
	var defs []pollDef
	if err := json.Unmarshal(fixture(t, "polls.json"), &defs); err != nil {
		t.Fatalf("testdata/polls.json: %v", err)
	}
	m := make(map[string]pollDef, len(defs))
	for _, d := range defs {
		m[d.Name] = d
	}
	return m
}

// request sends method path with body and headers (key, value pairs) and
// returns the status and the body read. A request that gets no answer is
// an error of the test and status 0; not fatal, so that goroutines may
// call it.
func request(t testing.TB, client *http.Client, method, target, contentType, body string, headers ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %v", method, target, err)
		return 0, []byte(err.Error()), nil
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, target, err)
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// createBody is the JSON of POST /api/polls for a definition.
func createBody(question string, options []string) string {
	b, _ := json.Marshal(poll.CreateRequest{Question: question, Options: options})
	return string(b)
}

// createPoll creates def through POST /api/polls and checks the answer
// against the contract: 201, the poll JSON with trimmed text, option ids a,
// b, c, … in order, open, and the links and token.
func createPoll(t testing.TB, vote *proc, def pollDef, headers ...string) poll.Created {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodPost, vote.url("/api/polls"), "application/json",
		createBody(def.Question, def.Options), headers...)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/polls %q: got %d %s, want 201", def.Name, code, body)
	}
	var c poll.Created
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("POST /api/polls answered %s: %v", body, err)
	}
	if !poll.ValidID(c.ID) || c.ID == poll.DefaultID {
		t.Errorf("created poll id %q, want a fresh id matching ^[a-z0-9][a-z0-9-]{0,39}$", c.ID)
	}
	if want := strings.TrimSpace(def.Question); c.Question != want {
		t.Errorf("created question %q, want %q (trimmed)", c.Question, want)
	}
	if len(c.Options) != len(def.Options) {
		t.Fatalf("created %d options, want %d: %s", len(c.Options), len(def.Options), body)
	}
	for i, o := range c.Options {
		if want := (poll.Option{ID: poll.OptionID(i), Label: strings.TrimSpace(def.Options[i])}); o != want {
			t.Errorf("option %d is %+v, want %+v", i, o, want)
		}
	}
	if c.State != poll.StateOpen || c.CreatedAt.IsZero() {
		t.Errorf("created poll state %q created_at %v, want open and a time", c.State, c.CreatedAt)
	}
	for name, u := range map[string]string{"vote_url": c.VoteURL, "results_url": c.ResultsURL, "manage_url": c.ManageURL} {
		if u == "" {
			t.Errorf("created poll has no %s: %s", name, body)
		}
	}
	for name, u := range map[string]string{"vote_url": c.VoteURL, "results_url": c.ResultsURL} {
		if !strings.HasSuffix(u, "/p/"+c.ID) {
			t.Errorf("%s %q does not lead to /p/%s", name, u, c.ID)
		}
	}
	if len(c.ManageToken) < 20 {
		t.Errorf("manage_token %q is too short to be unguessable", c.ManageToken)
	}
	if bytes.Contains(body, []byte("token_hash")) {
		t.Errorf("POST /api/polls shows the token hash: %s", body)
	}
	return c
}

// getPoll reads GET /api/polls/{id} of a vote server.
func getPoll(t testing.TB, vote *proc, id string) (int, poll.Poll, []byte) {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodGet, vote.url("/api/polls/"+id), "", "")
	var p poll.Poll
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("GET /api/polls/%s answered %s: %v", id, body, err)
		}
	}
	return code, p, body
}

// manage posts close or reopen with the Bearer token ("" sends none).
func manage(t testing.TB, vote *proc, id, action, token string) (int, poll.Poll, []byte) {
	t.Helper()
	var headers []string
	if token != "" {
		headers = []string{"Authorization", "Bearer " + token}
	}
	code, body, _ := request(t, nil, http.MethodPost, vote.url("/api/polls/"+id+"/"+action), "", "", headers...)
	var p poll.Poll
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("POST /api/polls/%s/%s answered %s: %v", id, action, body, err)
		}
	}
	return code, p, body
}

// votePoll posts {"vote":option} to /api/polls/{id}/votes and returns the
// status and body; a 202 must echo the voter, the poll and the vote.
func (v *voter) votePoll(t testing.TB, vote *proc, pollID, option string) (int, []byte) {
	t.Helper()
	code, body, _ := request(t, v.client, http.MethodPost, vote.url("/api/polls/"+pollID+"/votes"), "application/json",
		`{"vote":"`+option+`"}`)
	if code == http.StatusAccepted {
		var a struct {
			VoterID string `json:"voter_id"`
			Poll    string `json:"poll"`
			Vote    string `json:"vote"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("vote answered %s: %v", body, err)
			return 0, body
		}
		if a.Poll != pollID || a.Vote != option || a.VoterID == "" {
			t.Errorf("vote answered %s, want poll %q, vote %q and a voter_id", body, pollID, option)
		}
		if v.id != "" && a.VoterID != v.id {
			t.Errorf("voter id changed from %s to %s", v.id, a.VoterID)
		}
		v.id = a.VoterID
	}
	return code, body
}

// voteForm posts the page's form (vote=option, urlencoded) to path, as a
// browser without JavaScript does, following a 303 back to the page. The
// voter is then the voter_id cookie the server set.
func (v *voter) voteForm(t testing.TB, vote *proc, path, option string) (int, []byte) {
	t.Helper()
	code, body, _ := request(t, v.client, http.MethodPost, vote.url(path), "application/x-www-form-urlencoded",
		url.Values{"vote": {option}}.Encode())
	if id := v.cookie(vote, "voter_id"); id != "" {
		if v.id != "" && id != v.id {
			t.Errorf("voter id changed from %s to %s", v.id, id)
		}
		v.id = id
	}
	return code, body
}

// voteMultipart posts the page's form as multipart/form-data, as a browser
// does for a form with enctype="multipart/form-data".
func (v *voter) voteMultipart(t testing.TB, vote *proc, path, option string) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("vote", option); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	code, body, _ := request(t, v.client, http.MethodPost, vote.url(path), w.FormDataContentType(), buf.String())
	if id := v.cookie(vote, "voter_id"); id != "" {
		v.id = id
	}
	return code, body
}

// cookie returns the named cookie the voter holds for the server, or "".
func (v *voter) cookie(p *proc, name string) string {
	u, _ := url.Parse(p.url("/"))
	for _, c := range v.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// readPollTally reads /api/polls/{id}/tally of a result server: the status and,
// on 200, the tally.
func readPollTally(t testing.TB, result *proc, id string) (int, tally.Tally) {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodGet, result.url("/api/polls/"+id+"/tally"), "", "")
	var tl tally.Tally
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &tl); err != nil {
			t.Fatalf("/api/polls/%s/tally answered %s: %v", id, body, err)
		}
	}
	return code, tl
}

// waitPollKnown waits until the result server serves the poll's tally (the
// worker has written the new poll to PostgreSQL) and returns it.
func waitPollKnown(t testing.TB, result *proc, id string) tally.Tally {
	t.Helper()
	var tl tally.Tally
	waitFor(t, 15*time.Second, "the result server to know poll "+id, func() bool {
		var code int
		code, tl = readPollTally(t, result, id)
		return code == http.StatusOK
	})
	return tl
}

// resultsCSV reads /api/polls/{id}/results.csv: the Content-Type and the
// records.
func resultsCSV(t testing.TB, result *proc, id string) (string, [][]string) {
	t.Helper()
	code, body, h := request(t, nil, http.MethodGet, result.url("/api/polls/"+id+"/results.csv"), "", "")
	if code != http.StatusOK {
		t.Fatalf("results.csv of %s: got %d %s, want 200", id, code, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("results.csv of %s is not CSV: %v\n%s", id, err, body)
	}
	return h.Get("Content-Type"), recs
}

// sameCounts reports whether a tally's counts are exactly want's: every
// option of want with its count, and no other option.
func sameCounts(tl tally.Tally, want map[string]int64) bool {
	if len(tl.Counts) != len(want) {
		return false
	}
	var total int64
	for o, n := range want {
		if got, ok := tl.Counts[o]; !ok || got != n {
			return false
		}
		total += n
	}
	return tl.Total == total
}

// zeroCounts is want for a poll before any vote: every option at 0.
func zeroCounts(options []poll.Option) map[string]int64 {
	m := make(map[string]int64, len(options))
	for _, o := range options {
		m[o.ID] = 0
	}
	return m
}

// natsLog collects the tallies published on one subject (a wildcard too).
type natsLog struct {
	mu  sync.Mutex
	got []tally.Tally
	// bad are messages that are not tallies.
	bad []string
}

// subscribe collects what is published on subject from now on.
func (e *env) subscribe(subject string) *natsLog {
	e.t.Helper()
	l := &natsLog{}
	sub, err := e.nc.Subscribe(subject, func(m *nats.Msg) {
		var tl tally.Tally
		err := json.Unmarshal(m.Data, &tl)
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.bad = append(l.bad, m.Subject+": "+string(m.Data))
			return
		}
		// On a wildcard the subject names the poll: a tally of another
		// poll on it is a bug worth seeing.
		if base, ok := strings.CutSuffix(subject, ".>"); ok && m.Subject != tally.Subject(base, tl.Poll) {
			l.bad = append(l.bad, m.Subject+" carried poll "+tl.Poll)
		}
		l.got = append(l.got, tl)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// newest returns the highest version seen of poll id, as a consumer keeps it.
func (l *natsLog) newest(id string) (tally.Tally, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best tally.Tally
	seen := false
	for _, tl := range l.got {
		if tl.Poll == id && (!seen || tl.Newer(best)) {
			best, seen = tl, true
		}
	}
	return best, seen
}

// all returns every tally received and the messages that were not tallies.
func (l *natsLog) all() ([]tally.Tally, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got), slices.Clone(l.bad)
}

// pollCounts is the contract's query for a poll's counts:
// SELECT vote, count(*) FROM ballots WHERE poll = $1 GROUP BY vote.
func (e *env) pollCounts(id string) map[string]int64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT vote, count(*) FROM ballots WHERE poll = $1 GROUP BY vote", id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var v string
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			e.t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return got
}

// withZeros adds the options want lacks (nobody chose them) at 0.
func withZeros(counts map[string]int64, options []string) map[string]int64 {
	m := make(map[string]int64, len(options))
	for _, o := range options {
		m[o] = 0
	}
	for o, n := range counts {
		m[o] = n
	}
	return m
}

// checkPollRows compares a poll's ballots with each voter's expected last
// vote, row by row.
func (e *env) checkPollRows(id string, want map[string]string) {
	e.t.Helper()
	e.compareQueryRows("poll "+id, want, "SELECT voter, vote FROM ballots WHERE poll = $1", id)
}

// startAll starts the result server, the worker and the vote server on the
// test's own slice of the services and waits until all three are ready.
func (e *env) startAll() (result, worker, vote *proc) {
	e.t.Helper()
	result, worker, vote = e.start("result"), e.start("worker"), e.start("vote")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}
	return result, worker, vote
}

// compareRows reports the voters whose row is not their expected vote.
func compareRows(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	wrong := 0
	for id, w := range want {
		if got[id] != w {
			if wrong < 5 {
				t.Errorf("%s: voter %s: table holds %q, want %q", what, id, got[id], w)
			}
			wrong++
		}
	}
	if wrong > 0 || len(got) != len(want) {
		t.Errorf("%s: %d of %d voters wrong; table has %d rows, want %d", what, wrong, len(want), len(got), len(want))
	}
}
