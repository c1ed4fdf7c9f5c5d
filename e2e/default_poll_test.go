package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// TestDefaultPollRoutesAreOnePoll votes in the default poll through each of
// its routes, version 1's and version 2's, with one voter changing their
// mind from route to route: it is one poll, so the voter counts once, with
// the last choice, and every route that reads it (both tally routes, both
// WebSockets, both NATS subjects, the CSV, the poll JSON) agrees.
func TestDefaultPollRoutesAreOnePoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bare := e.subscribe(e.subject())
	own := e.subscribe(tally.Subject(e.subject(), poll.DefaultID))
	result := e.start("result", "OPTION_A=Tabs", "OPTION_B=Spaces")
	worker := e.start("worker")
	vote := e.start("vote", "OPTION_A=Tabs", "OPTION_B=Spaces")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}
	wsV1, wsV2 := dialSocket(t, result), dialPollSocket(t, result, poll.DefaultID)

	code, p, body := getPoll(t, vote, poll.DefaultID)
	want := poll.Default("Tabs", "Spaces")
	if code != http.StatusOK || p.ID != want.ID || p.Question != want.Question || len(p.Options) != 2 ||
		p.Options[0] != want.Options[0] || p.Options[1] != want.Options[1] || p.State != poll.StateOpen {
		t.Errorf("GET /api/polls/default: got %d %s, want %+v", code, body, want)
	}

	v := newVoter(t)
	steps := []struct {
		route, option string
		send          func(option string) int
	}{
		{"form POST /", "a", func(o string) int { c, _ := v.voteForm(t, vote, "/", o); return c }},
		{"form POST /p/default", "b", func(o string) int { c, _ := v.voteForm(t, vote, "/p/default", o); return c }},
		{"POST /api/vote", "a", func(o string) int { return v.vote(t, vote, o) }},
		{"POST /api/polls/default/votes", "b", func(o string) int { c, _ := v.votePoll(t, vote, poll.DefaultID, o); return c }},
	}
	wantCodes := map[string]int{"form POST /": 200, "form POST /p/default": 200, "POST /api/vote": 202, "POST /api/polls/default/votes": 202}
	for _, s := range steps {
		if code := s.send(s.option); code != wantCodes[s.route] {
			t.Fatalf("%s: got %d, want %d", s.route, code, wantCodes[s.route])
		}
	}
	other := newVoter(t)
	if code := other.vote(t, vote, "a"); code != http.StatusAccepted {
		t.Fatalf("POST /api/vote: got %d", code)
	}
	counts := map[string]int64{"a": 1, "b": 1}
	var v1, v2 tally.Tally
	waitFor(t, 15*time.Second, "the default poll's tally a=1 b=1 on both routes", func() bool {
		v1 = apiTally(t, result)
		_, v2 = readPollTally(t, result, poll.DefaultID)
		return sameCounts(v1, counts) && sameCounts(v2, counts)
	})
	if v1.Version != v2.Version || v1.Poll != poll.DefaultID || v2.Poll != poll.DefaultID {
		t.Errorf("/api/tally %+v and /api/polls/default/tally %+v differ", v1, v2)
	}
	waitFor(t, 10*time.Second, "both WebSockets and both NATS subjects at the same version", func() bool {
		a, _ := wsV1.last()
		b, _ := wsV2.last()
		c, _ := bare.newest(poll.DefaultID)
		d, _ := own.newest(poll.DefaultID)
		return a.Version == v1.Version && b.Version == v1.Version && c.Version == v1.Version && d.Version == v1.Version &&
			sameCounts(a, counts) && sameCounts(b, counts) && sameCounts(c, counts) && sameCounts(d, counts)
	})
	e.checkRows(map[string]string{v.id: "b", other.id: "a"})
	e.checkPollRows(poll.DefaultID, map[string]string{v.id: "b", other.id: "a"})

	ct, recs := resultsCSV(t, result, poll.DefaultID)
	if !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("results.csv of the default poll: Content-Type %q, want text/csv", ct)
	}
	checkCSV(t, &livePoll{created: poll.Created{Poll: want}, last: map[string]string{v.id: "b", other.id: "a"}}, recs)
}
