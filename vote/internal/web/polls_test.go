package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/ballot"
	"livevote/shared/i18n"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

const jsonType = "application/json"
const formType = "application/x-www-form-urlencoded"

// createPoll creates a poll through the API and returns the answer.
func (a *fiberApp) createPoll(labels ...string) poll.Created {
	a.t.Helper()
	body, _ := json.Marshal(poll.CreateRequest{Question: "Which talk next?", Options: labels})
	resp, out := a.do("POST", "/api/polls", jsonType, string(body))
	if resp.StatusCode != http.StatusCreated {
		a.t.Fatalf("create: got %d %s, want 201", resp.StatusCode, out)
	}
	var c poll.Created
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		a.t.Fatal(err)
	}
	return c
}

func TestCreatePollAPI(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	c := a.createPoll(" Red ", "Green", "Blue")
	if !poll.ValidID(c.ID) || c.State != "open" || c.Question != "Which talk next?" || len(c.Options) != 3 ||
		c.Options[0] != (poll.Option{ID: "a", Label: "Red"}) || c.Options[2].ID != "c" || c.CreatedAt.IsZero() {
		t.Errorf("poll %+v, want an open poll with options a=Red, b, c", c.Poll)
	}
	for _, tt := range []struct{ got, want string }{
		{c.VoteURL, "http://example.com/p/" + c.ID},
		{c.ResultsURL, "http://example.com:8081/p/" + c.ID},
		{c.ManageURL, "http://example.com/p/" + c.ID + "/manage?token=" + c.ManageToken},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	if len(c.ManageToken) < 40 || q.polls[c.ID].Record.TokenMatches(c.ManageToken) != true {
		t.Errorf("manage token %q does not match the stored hash", c.ManageToken)
	}
	if strings.Contains(fmt.Sprint(q.polls[c.ID].Record), c.ManageToken) {
		t.Error("the manage token is stored in clear")
	}
	resp, body := a.do("GET", "/api/polls/"+c.ID, "", "")
	var got poll.Poll
	_ = json.Unmarshal([]byte(body), &got)
	if resp.StatusCode != 200 || got.ID != c.ID || got.State != "open" || len(got.Options) != 3 || strings.Contains(body, "token") {
		t.Errorf("GET: got %d %s, want 200 with the poll and no token", resp.StatusCode, body)
	}
}

func TestCreatePollWithResultURL(t *testing.T) {
	a := newTestApp(t, &fakeStore{}, "RESULT_URL", "https://results.example.org/live")
	c := a.createPoll("Yes", "No")
	if want := "https://results.example.org/live/p/" + c.ID; c.ResultsURL != want {
		t.Errorf("results_url %s, want %s", c.ResultsURL, want)
	}
	_, body := a.do("GET", "/p/"+c.ID, "", "")
	if !strings.Contains(body, `data-socket="wss://results.example.org/live/ws?poll=`+c.ID+`"`) {
		t.Errorf("page lacks the configured socket:\n%s", body)
	}
}

func TestCreateToken(t *testing.T) {
	tests := []struct {
		name, auth string
		want       int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"not bearer", "Basic czNjcmV0", 401},
		{"right", "Bearer s3cret", 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeStore{}
			a := newTestApp(t, q, "POLL_CREATE_TOKEN", "s3cret")
			req := newRequest("POST", "/api/polls", jsonType, `{"question":"Q?","options":["x","y"]}`)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := a.send(req)
			if resp.StatusCode != tt.want || !strings.Contains(body, `"`) {
				t.Errorf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want != 201 && len(q.polls) != 0 {
				t.Errorf("created %d polls, want none", len(q.polls))
			}
		})
	}
}

func TestVotesInTwoPollsNeverMix(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	p1, p2 := a.createPoll("A", "B"), a.createPoll("X", "Y", "Z")
	resp, body := a.do("POST", "/api/polls/"+p1.ID+"/votes", jsonType, `{"vote":"b"}`)
	var acc ballot.Accepted
	_ = json.Unmarshal([]byte(body), &acc)
	if resp.StatusCode != 202 || acc.Poll != p1.ID || acc.Vote != "b" || !ballot.ValidVoterID(acc.VoterID) {
		t.Fatalf("got %d %s, want 202 with voter, poll and vote", resp.StatusCode, body)
	}
	if c := cookie(resp, "vote_"+p1.ID); c == nil || c.Value != "b" || c.Path != "/p/"+p1.ID {
		t.Errorf("choice cookie %+v, want vote_%s=b with path /p/%s", c, p1.ID, p1.ID)
	}
	voter := &http.Cookie{Name: "voter_id", Value: acc.VoterID}
	if resp, body := a.do("POST", "/api/polls/"+p2.ID+"/votes", jsonType, `{"vote":"c"}`, voter); resp.StatusCode != 202 {
		t.Fatalf("got %d %s, want 202", resp.StatusCode, body)
	}
	// Option c exists in p2 only.
	if resp, _ := a.do("POST", "/api/polls/"+p1.ID+"/votes", jsonType, `{"vote":"c"}`, voter); resp.StatusCode != 400 {
		t.Errorf("option c in a two-option poll: got %d, want 400", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/p/"+p2.ID, formType, "vote=a", voter); resp.StatusCode != 200 {
		t.Errorf("form vote: got %d, want 200", resp.StatusCode)
	}
	want := []appended{{p1.ID, acc.VoterID, "b"}, {p2.ID, acc.VoterID, "c"}, {p2.ID, acc.VoterID, "a"}}
	if got := q.votes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("queued %v, want %v", got, want)
	}
}

func TestCloseAndReopen(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	p := a.createPoll("A", "B")
	post := func(path, token string) (*http.Response, string) {
		req := newRequest("POST", path, "", "")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return a.send(req)
	}
	for _, tt := range []struct {
		name, path, token string
		want              int
		state             string
	}{
		{"close without token", "/api/polls/" + p.ID + "/close", "", 403, "open"},
		{"close with wrong token", "/api/polls/" + p.ID + "/close", poll.NewManageToken(), 403, "open"},
		{"close unknown poll", "/api/polls/nope/close", p.ManageToken, 404, "open"},
		{"close", "/api/polls/" + p.ID + "/close", p.ManageToken, 200, "closed"},
		{"close again", "/api/polls/" + p.ID + "/close", p.ManageToken, 200, "closed"},
		{"reopen with wrong token", "/api/polls/" + p.ID + "/reopen", "x", 403, "closed"},
		{"reopen default", "/api/polls/default/reopen", p.ManageToken, 403, "closed"},
	} {
		resp, body := post(tt.path, tt.token)
		if resp.StatusCode != tt.want || !strings.Contains(body, `"`) {
			t.Errorf("%s: got %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
		}
		if got := q.polls[p.ID].State; got != tt.state {
			t.Errorf("%s: state %s, want %s", tt.name, got, tt.state)
		}
	}
	resp, body := a.do("POST", "/api/polls/"+p.ID+"/votes", jsonType, `{"vote":"a"}`)
	if resp.StatusCode != 409 || !strings.Contains(body, "closed") {
		t.Errorf("vote on closed poll: got %d %s, want 409", resp.StatusCode, body)
	}
	resp, body = a.do("POST", "/p/"+p.ID, formType, "vote=a")
	if resp.StatusCode != 409 || !strings.Contains(body, "This poll is closed.") || strings.Contains(body, `name="vote"`) {
		t.Errorf("form vote on closed poll: got %d, want 409 and a closed page without buttons:\n%s", resp.StatusCode, body)
	}
	if len(q.votes()) != 0 || cookie(resp, "vote_"+p.ID) != nil {
		t.Errorf("recorded %v, want nothing", q.votes())
	}
	resp, body = post("/api/polls/"+p.ID+"/reopen", p.ManageToken)
	if resp.StatusCode != 200 || !strings.Contains(body, `"state":"open"`) {
		t.Errorf("reopen: got %d %s, want 200 open", resp.StatusCode, body)
	}
	if resp, _ := a.do("POST", "/api/polls/"+p.ID+"/votes", jsonType, `{"vote":"a"}`); resp.StatusCode != 202 {
		t.Errorf("vote after reopen: got %d, want 202", resp.StatusCode)
	}
}

func TestPollBadInputRecordsNothing(t *testing.T) {
	big := `{"vote":"a","pad":"` + strings.Repeat("x", 4<<10) + `"}`
	tests := []struct {
		name, method, path, contentType, body string
		want                                  int
	}{
		{"unknown poll", "POST", "/api/polls/{other}/votes", jsonType, `{"vote":"a"}`, 404},
		{"bad poll id", "POST", "/api/polls/NOPE!/votes", jsonType, `{"vote":"a"}`, 404},
		{"option d of three", "POST", "/api/polls/{id}/votes", jsonType, `{"vote":"d"}`, 400},
		{"option as number", "POST", "/api/polls/{id}/votes", jsonType, `{"vote":1}`, 400},
		{"malformed", "POST", "/api/polls/{id}/votes", jsonType, `{"vote":`, 400},
		{"text/plain vote", "POST", "/api/polls/{id}/votes", "text/plain", `{"vote":"a"}`, 415},
		{"no type vote", "POST", "/api/polls/{id}/votes", "", `{"vote":"a"}`, 415},
		{"vote over 4 KiB", "POST", "/api/polls/{id}/votes", jsonType, big, 413},
		{"default vote over 4 KiB", "POST", "/api/vote", jsonType, big, 413},
		{"form over 4 KiB", "POST", "/p/{id}", formType, "vote=a&pad=" + strings.Repeat("x", 4<<10), 413},
		{"form text/plain", "POST", "/p/{id}", "text/plain", "vote=a", 415},
		{"form json", "POST", "/p/{id}", jsonType, `{"vote":"a"}`, 415},
		{"default form text/plain", "POST", "/", "text/plain", "vote=a", 415},
		{"form vote in query only", "POST", "/p/{id}?vote=a", formType, "", 400},
		{"default form vote in query only", "POST", "/?vote=a", formType, "", 400},
		{"form unknown option", "POST", "/p/{id}", formType, "vote=z", 400},
		{"form unknown poll", "POST", "/p/{other}", formType, "vote=a", 404},
		{"create text/plain", "POST", "/api/polls", "text/plain", `{"question":"Q","options":["a","b"]}`, 415},
		{"create malformed", "POST", "/api/polls", jsonType, `{"question":`, 400},
		{"create one option", "POST", "/api/polls", jsonType, `{"question":"Q","options":["a"]}`, 400},
		{"create 13 options", "POST", "/api/polls", jsonType, `{"question":"Q","options":["1","2","3","4","5","6","7","8","9","10","11","12","13"]}`, 400},
		{"create empty label", "POST", "/api/polls", jsonType, `{"question":"Q","options":["a"," "]}`, 400},
		{"create duplicate labels", "POST", "/api/polls", jsonType, `{"question":"Q","options":["Red","red"]}`, 400},
		{"create long question", "POST", "/api/polls", jsonType, `{"question":"` + strings.Repeat("q", 201) + `","options":["a","b"]}`, 400},
		{"create empty question", "POST", "/api/polls", jsonType, `{"question":"  ","options":["a","b"]}`, 400},
		{"create no options", "POST", "/api/polls", jsonType, `{"question":"Q"}`, 400},
		{"get unknown", "GET", "/api/polls/{other}", "", "", 404},
		{"manage form text/plain", "POST", "/p/{id}/manage", "text/plain", "token=x&action=close", 415},
		{"manage form wrong token", "POST", "/p/{id}/manage", formType, "token=x&action=close", 403},
		{"manage form no token", "POST", "/p/{id}/manage", formType, "action=close", 403},
		{"manage form token in query", "POST", "/p/{id}/manage?token={token}", formType, "action=close", 403},
		{"manage form bad action", "POST", "/p/{id}/manage", formType, "token={token}&action=delete", 400},
		{"manage form unknown poll", "POST", "/p/{other}/manage", formType, "token={token}&action=close", 404},
		{"manage page no token", "GET", "/p/{id}/manage", "", "", 403},
		{"manage page wrong token", "GET", "/p/{id}/manage?token=abc", "", "", 403},
		{"manage page of default", "GET", "/p/default/manage?token=abc", "", "", 403},
		{"manage page unknown", "GET", "/p/{other}/manage?token=abc", "", "", 404},
		{"page unknown", "GET", "/p/{other}", "", "", 404},
		{"qr unknown", "GET", "/p/{other}/qr.svg", "", "", 404},
		{"new text/plain", "POST", "/new", "text/plain", "question=Q&option=a&option=b", 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeStore{}
			a := newTestApp(t, q)
			p := a.createPoll("Red", "Green", "Blue")
			r := strings.NewReplacer("{id}", p.ID, "{other}", poll.NewID(), "{token}", url.QueryEscape(p.ManageToken))
			resp, body := a.do(tt.method, r.Replace(tt.path), tt.contentType, r.Replace(tt.body))
			if resp.StatusCode != tt.want {
				t.Errorf("got %d %.200q, want %d", resp.StatusCode, body, tt.want)
			}
			if strings.TrimSpace(body) == "" {
				t.Error("empty body; want a message")
			}
			if strings.HasPrefix(tt.path, "/api/") {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Errorf("body %q, want {\"error\":\"…\"}", body)
				}
			}
			if got := q.votes(); len(got) != 0 {
				t.Errorf("queued %+v, want nothing", got)
			}
			if len(q.polls) != 1 || q.polls[p.ID].State != poll.StateOpen {
				t.Errorf("polls changed: %d, state %s", len(q.polls), q.polls[p.ID].State)
			}
		})
	}
}

func TestRedisDown(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	p := a.createPoll("Red", "Green")
	q.fail = errors.New("dial tcp: connection refused")
	for _, tt := range []struct{ method, path, contentType, body string }{
		{"POST", "/api/polls", jsonType, `{"question":"Q","options":["a","b"]}`},
		{"POST", "/api/polls/" + p.ID + "/votes", jsonType, `{"vote":"a"}`},
		{"POST", "/api/polls/" + p.ID + "/close", "", ""},
		{"POST", "/p/" + p.ID, formType, "vote=a"},
		{"POST", "/new", formType, "question=Q&option=a&option=b"},
		{"GET", "/api/polls/" + p.ID, "", ""},
		{"GET", "/p/" + poll.NewID(), "", ""},
	} {
		req := newRequest(tt.method, tt.path, tt.contentType, tt.body)
		req.Header.Set("Authorization", "Bearer "+p.ManageToken)
		resp, body := a.send(req)
		if resp.StatusCode != 503 || !strings.Contains(body, "Redis") {
			t.Errorf("%s %s: got %d %.300q, want 503 naming Redis", tt.method, tt.path, resp.StatusCode, body)
		}
	}
	// A known poll's page still renders from the cache, without its state.
	resp, body := a.do("GET", "/p/"+p.ID, "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="vote" value="b"`) || !strings.Contains(body, "unavailable right now") {
		t.Errorf("cached page: got %d, want 200 with the buttons and a notice", resp.StatusCode)
	}
	// The default page needs no Redis to render.
	if resp, _ := a.do("GET", "/", "", ""); resp.StatusCode != 200 {
		t.Errorf("default page: got %d, want 200", resp.StatusCode)
	}
}

func labels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Choice %d", i+1)
	}
	return out
}

func TestVotePageAnyNumberOfOptions(t *testing.T) {
	for _, n := range []int{2, 12} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := newTestApp(t, &fakeStore{})
			p := a.createPoll(labels(n)...)
			resp, body := a.do("GET", "/p/"+p.ID, "", "", &http.Cookie{Name: "vote_" + p.ID, Value: poll.OptionID(n - 1)})
			if resp.StatusCode != 200 {
				t.Fatalf("got %d, want 200", resp.StatusCode)
			}
			if got := strings.Count(body, `name="vote"`); got != n {
				t.Errorf("%d vote buttons, want %d", got, n)
			}
			if got := strings.Count(body, "data-percent="); got != n {
				t.Errorf("%d tally rows, want %d", got, n)
			}
			last := poll.OptionID(n - 1)
			for _, want := range []string{
				`<h1>Which talk next?</h1>`, `method="post" action="/p/` + p.ID + `"`,
				`value="` + last + `" class="option option-` + last + ` chosen" aria-pressed="true"`,
				"You voted for <strong>Choice " + fmt.Sprint(n) + "</strong>", `data-api="/api/polls/` + p.ID + `/votes"`,
				`data-socket="ws://example.com:8081/ws?poll=` + p.ID + `"`, `href="http://example.com:8081/p/` + p.ID + `"`,
				`aria-live="polite"`, `<html lang="en">`, "change your vote",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if got := strings.Count(body, `aria-pressed="true"`); got != 1 {
				t.Errorf("%d options marked, want 1", got)
			}
			checkNoInline(t, body)
		})
	}
}

// checkNoInline fails on an inline script or style attribute: the next
// step is a strict Content-Security-Policy.
func checkNoInline(t *testing.T, body string) {
	t.Helper()
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|style=|<style|\son[a-z]+=`).MatchString(body) {
		t.Errorf("page has an inline script or style:\n%s", body)
	}
}

func TestClosedPageShowsFinalTally(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	p := a.createPoll("Red", "Green", "Blue")
	q.polls[p.ID].State = poll.StateClosed
	tl := tally.New(p.ID, 7, []string{"a", "b", "c"}, map[string]int64{"a": 3, "c": 1}, poll.StateClosed, p.CreatedAt)
	q.polls[p.ID].Tally, _ = json.Marshal(tl)
	resp, body := a.do("GET", "/p/"+p.ID, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{"This poll is closed.", "Final results", `data-percent="a">75%`, `data-count="a">3<`,
		`data-percent="b">0%`, `data-percent="c">25%`, `value="75"`, "4 votes", `data-poll-state="closed"`} {
		if !strings.Contains(body, want) {
			t.Errorf("closed page lacks %s", want)
		}
	}
	if strings.Contains(body, `name="vote"`) {
		t.Error("closed page has vote buttons")
	}
	// The same in Spanish.
	_, body = a.do("GET", "/p/"+p.ID+"?lang=es", "", "")
	for _, want := range []string{"Esta encuesta está cerrada.", "4 votos", `<html lang="es">`} {
		if !strings.Contains(body, want) {
			t.Errorf("Spanish closed page lacks %s", want)
		}
	}
}

func TestManagePage(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	p := a.createPoll("Red", "Green")
	path := "/p/" + p.ID + "/manage?token=" + url.QueryEscape(p.ManageToken)
	resp, body := a.do("GET", path, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`href="http://example.com/p/` + p.ID + `"`, `src="/p/` + p.ID + `/qr.svg"`,
		`href="http://example.com:8081/p/` + p.ID + `"`, `href="http://example.com:8081/p/` + p.ID + `/present"`,
		`name="action" value="close"`, `name="token" value="` + p.ManageToken + `"`, "Open: taking votes",
		`href="/p/` + p.ID + `/manage?lang=es&amp;token=`,
		// A phone breaks the vote link after the host, not inside the port.
		`>http://example.com<wbr>/p/` + p.ID + `</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("manage page lacks %s", want)
		}
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", got)
	}
	checkNoInline(t, body)

	// The form closes, then reopens, each time back to the page.
	for _, step := range []struct{ action, state, button string }{
		{"close", poll.StateClosed, `value="reopen"`}, {"reopen", poll.StateOpen, `value="close"`},
	} {
		resp, _ := a.do("POST", "/p/"+p.ID+"/manage", formType, "token="+url.QueryEscape(p.ManageToken)+"&action="+step.action)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/p/"+p.ID+"/manage?token="+url.QueryEscape(p.ManageToken) {
			t.Errorf("%s: got %d to %q, want 303 to the manage page", step.action, resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := q.polls[p.ID].State; got != step.state {
			t.Errorf("%s: state %s, want %s", step.action, got, step.state)
		}
		if _, body := a.do("GET", path, "", ""); !strings.Contains(body, step.button) {
			t.Errorf("after %s the page lacks %s", step.action, step.button)
		}
	}

	resp, body = a.do("GET", "/p/"+p.ID+"/qr.svg", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") || !strings.Contains(body, `<path fill="#000" d="M`) {
		t.Errorf("qr.svg: got %d %s %.80q, want an SVG", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestNewPollForm(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	resp, body := a.do("GET", "/new", "", "")
	if resp.StatusCode != 200 || strings.Count(body, `name="option"`) != 3 || !strings.Contains(body, `name="add"`) || !strings.Contains(body, `for="question"`) {
		t.Fatalf("GET /new: got %d, want a form with a question and 3 options:\n%s", resp.StatusCode, body)
	}
	checkNoInline(t, body)

	// "Add option" without JavaScript: the form comes back with one more
	// field, what was typed kept, and nothing created.
	resp, body = a.do("POST", "/new", formType, "question=Lunch%3F&option=Pizza&option=Sushi&option=Tacos&add=1")
	if resp.StatusCode != 200 || strings.Count(body, `name="option"`) != 4 || !strings.Contains(body, `value="Tacos"`) || !strings.Contains(body, `value="Lunch?"`) || len(q.polls) != 0 {
		t.Errorf("add: got %d with %d fields, want 200 with 4 and the typed values kept", resp.StatusCode, strings.Count(body, `name="option"`))
	}
	// Twelve fields: no more adding.
	twelve := "question=Q" + strings.Repeat("&option=x", 11) + "&add=1"
	if _, body := a.do("POST", "/new", formType, twelve); strings.Count(body, `name="option"`) != 12 || strings.Contains(body, `name="add"`) {
		t.Errorf("at 12 options the form still offers to add one")
	}

	// Errors next to the form, with what was typed kept.
	for _, tt := range []struct{ name, body, want string }{
		{"one option", "question=Lunch&option=Pizza&option=&option=", "fill in at least 2 options"},
		{"duplicate", "question=Lunch&option=Pizza&option=&option=pizza", "options 1 and 3 are the same"},
		{"no question", "question=+&option=Pizza&option=Sushi", "the question is empty"},
	} {
		resp, body := a.do("POST", "/new", formType, tt.body)
		if resp.StatusCode != 400 || !strings.Contains(body, tt.want) || !strings.Contains(body, `value="Pizza"`) || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s: got %d, want 400 saying %q with the input kept:\n%s", tt.name, resp.StatusCode, tt.want, body)
		}
	}
	resp, body = a.do("POST", "/new?lang=es", formType, "question=Almuerzo&option=Pizza")
	if resp.StatusCode != 400 || !strings.Contains(body, "rellena al menos 2 opciones") {
		t.Errorf("Spanish: got %d, want 400 with the error in Spanish:\n%s", resp.StatusCode, body)
	}

	// Creating leads to the manage page; empty fields are left out.
	resp, _ = a.do("POST", "/new", formType, "question=Lunch%3F&option=Pizza&option=&option=Sushi")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/p/") || !strings.Contains(loc, "/manage?token=") || len(q.polls) != 1 {
		t.Fatalf("create: got %d to %q, want 303 to the manage page", resp.StatusCode, loc)
	}
	for _, cp := range q.polls {
		if len(cp.Record.Options) != 2 || cp.Record.Options[1].Label != "Sushi" {
			t.Errorf("created %+v, want Pizza and Sushi", cp.Record.Options)
		}
	}
	if resp, _ := a.do("GET", loc, "", ""); resp.StatusCode != 200 {
		t.Errorf("manage page after create: got %d, want 200", resp.StatusCode)
	}
}

func TestNewPollFormNeedsCreateToken(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q, "POLL_CREATE_TOKEN", "s3cret")
	if _, body := a.do("GET", "/new", "", ""); !strings.Contains(body, `name="token"`) {
		t.Error("the form has no token field")
	}
	resp, body := a.do("POST", "/new", formType, "question=Q&option=a&option=b&token=bad")
	if resp.StatusCode != 401 || !strings.Contains(body, "creation token") || len(q.polls) != 0 {
		t.Errorf("wrong token: got %d, want 401 and nothing created", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/new", formType, "question=Q&option=a&option=b&token=s3cret"); resp.StatusCode != 303 {
		t.Errorf("right token: got %d, want 303", resp.StatusCode)
	}
}

func TestLanguage(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	for _, tt := range []struct {
		name, path, accept string
		cookies            []*http.Cookie
		want               []string
	}{
		{"default", "/", "", nil, []string{`<html lang="en">`, "Processed by host", `href="/?lang=es"`, `href="/?lang=en" lang="en" hreflang="en" aria-current="true"`}},
		{"accept-language", "/", "es-ES,es;q=0.9,en;q=0.5", nil, []string{`<html lang="es">`, "Procesado por el host", "Consejo: puedes cambiar tu voto", `lang="es" hreflang="es" aria-current="true"`}},
		{"accept prefers en", "/new", "en;q=1,es;q=0.4", nil, []string{`<html lang="en">`, "Create a poll"}},
		{"switch", "/new?lang=es", "en", nil, []string{`<html lang="es">`, "Crear una encuesta", "Añadir opción"}},
		{"cookie", "/new", "en", []*http.Cookie{{Name: "lang", Value: "es"}}, []string{`<html lang="es">`}},
		{"404 in Spanish", "/p/" + poll.NewID() + "?lang=es", "", nil, []string{"Encuesta no encontrada"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest("GET", tt.path, "", "")
			req.Header.Set("Accept-Language", tt.accept)
			for _, c := range tt.cookies {
				req.AddCookie(c)
			}
			_, body := a.send(req)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
		})
	}
	resp, _ := a.do("GET", "/?lang=es", "", "")
	if c := cookie(resp, "lang"); c == nil || c.Value != "es" {
		t.Errorf("the switch set cookie %+v, want lang=es", c)
	}
}

func TestCatalogComplete(t *testing.T) {
	if missing := catalog.Missing(); len(missing) != 0 {
		t.Errorf("catalog lacks %v", missing)
	}
	// Every key the templates and handlers use is in the catalog.
	used := regexp.MustCompile(`(?:\bt \$?\.Lang|catalog\.T\((?:lg|lang|code), ?)\s*"([a-z]+\.[a-zA-Z.]+)"`)
	files, _ := os.ReadDir(".")
	tmpls, _ := os.ReadDir("templates")
	var sources []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") {
			sources = append(sources, f.Name())
		}
	}
	for _, f := range tmpls {
		sources = append(sources, "templates/"+f.Name())
	}
	n := 0
	for _, name := range sources {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s uses %q, not in the catalog", name, m[1])
			}
		}
	}
	if n < 40 {
		t.Errorf("found %d uses of the catalog, want the pages' many", n)
	}
	for _, l := range i18n.Languages {
		if catalog.T(l, "lang."+l) == "lang."+l {
			t.Errorf("no name for language %s", l)
		}
	}
}

func TestDefaultPollRoutes(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	resp, body := a.do("GET", "/p/default", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Tea vs Coffee!</h1>") || !strings.Contains(body, `action="/p/default"`) || !strings.Contains(body, `data-api="/api/vote"`) {
		t.Errorf("/p/default: got %d, want the default poll's page posting to itself", resp.StatusCode)
	}
	resp, _ = a.do("POST", "/p/default", formType, "vote=b")
	if c := cookie(resp, "vote"); resp.StatusCode != 200 || c == nil || c.Value != "b" || c.Path != "/" {
		t.Errorf("form vote on /p/default: got %d cookie %+v, want 200 and vote=b on /", resp.StatusCode, c)
	}
	resp, body = a.do("POST", "/api/polls/default/votes", jsonType, `{"vote":"a"}`)
	if resp.StatusCode != 202 || !strings.Contains(body, `"poll":"default"`) {
		t.Errorf("vote API on default: got %d %s, want 202 naming the poll", resp.StatusCode, body)
	}
	resp, body = a.do("GET", "/api/polls/default", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"question":"Tea vs Coffee!"`) || !strings.Contains(body, `"state":"open"`) {
		t.Errorf("GET default: got %d %s", resp.StatusCode, body)
	}
	want := []appended{{"default", q.votes()[0].voter, "b"}, {"default", q.votes()[1].voter, "a"}}
	if fmt.Sprint(q.votes()) != fmt.Sprint(want) {
		t.Errorf("queued %v, want %v", q.votes(), want)
	}
	if resp, _ := a.do("GET", "/p/default/qr.svg", "", ""); resp.StatusCode != 200 {
		t.Errorf("default QR: got %d, want 200", resp.StatusCode)
	}
	if resp, _ := a.do("GET", "/nope", "", ""); resp.StatusCode != 404 {
		t.Errorf("unknown page: got %d, want 404", resp.StatusCode)
	}
}

// TestBodyLimits over a real connection: the 16 KiB limit is the HTTP
// server's, which app.Test reports as an error rather than a response.
func TestBodyLimits(t *testing.T) {
	q := &fakeStore{}
	a := newTestApp(t, q)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := a.app.(*fiber.App)
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	pad := func(n int) string { return strings.Repeat("x", n) }
	for _, tt := range []struct {
		name, path, body string
		want             int
	}{
		{"create just under 16 KiB", "/api/polls", `{"question":"Q","options":["a","b"],"pad":"` + pad(16<<10-100) + `"}`, 201},
		{"create over 16 KiB", "/api/polls", `{"question":"Q","options":["a","b"],"pad":"` + pad(16<<10) + `"}`, 413},
		{"vote over 4 KiB", "/api/vote", `{"vote":"a","pad":"` + pad(4<<10) + `"}`, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post("http://"+ln.Addr().String()+tt.path, jsonType, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d %s, want %d", resp.StatusCode, b, tt.want)
			}
			if tt.want == 413 && !strings.Contains(string(b), `"error":"request body over`) {
				t.Errorf("body %s, want a JSON error", b)
			}
		})
	}
	if len(q.votes()) != 0 {
		t.Errorf("queued %v, want nothing", q.votes())
	}
}
