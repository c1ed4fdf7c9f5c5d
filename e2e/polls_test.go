package e2e

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// livePoll is one poll of TestPollsEndToEnd with everything the test
// watches of it and its oracle: each voter's last acknowledged vote.
type livePoll struct {
	def     pollDef
	created poll.Created
	ws      *socket
	last    map[string]string // voter id → option id
	voters  []*voter
	// state is the state the poll must show once everything agrees.
	state string
}

func (lp *livePoll) id() string { return lp.created.ID }

func (lp *livePoll) want() map[string]int64 {
	m := zeroCounts(lp.created.Options)
	for _, o := range lp.last {
		m[o]++
	}
	return m
}

// TestPollsEndToEnd runs three polls at once (2, 3 and 12 options) on the
// real binaries: created through the API, voted through the API and the
// no-JavaScript form, votes changed, one voter in every poll, one poll
// closed (late votes refused) and reopened, the CSV; the WebSocket of each
// poll, NATS per subject (the bare subject the default poll's only), the
// result API and the ballots rows of each poll all agree, and one poll's
// votes never move another's tally.
func TestPollsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bare := e.subscribe(e.subject())
	every := e.subscribe(tally.Wildcard(e.subject()))

	result, _, vote := e.startAll()
	defs := pollDefs(t)
	var polls []*livePoll
	for _, name := range []string{"two", "three", "twelve"} {
		lp := &livePoll{def: defs[name], last: map[string]string{}, state: poll.StateOpen}
		lp.created = createPoll(t, vote, lp.def)
		polls = append(polls, lp)
	}
	if polls[0].id() == polls[1].id() || polls[1].id() == polls[2].id() || polls[0].id() == polls[2].id() {
		t.Fatalf("two polls got the same id: %s %s %s", polls[0].id(), polls[1].id(), polls[2].id())
	}
	for _, lp := range polls {
		code, got, body := getPoll(t, vote, lp.id())
		if code != http.StatusOK || got.ID != lp.id() || got.Question != lp.created.Question || len(got.Options) != len(lp.created.Options) || got.State != poll.StateOpen {
			t.Errorf("GET /api/polls/%s: got %d %s, want 200 with the created poll", lp.id(), code, body)
		}
		if strings.Contains(string(body), "token") {
			t.Errorf("GET /api/polls/%s shows a token: %s", lp.id(), body)
		}
		first := waitPollKnown(t, result, lp.id())
		if first.Poll != lp.id() || !sameCounts(first, lp.want()) || first.State != poll.StateOpen {
			t.Errorf("tally of new poll %s: got %+v, want every option at 0, open", lp.id(), first)
		}
		lp.ws = dialPollSocket(t, result, lp.id())
	}
	defaultWS := dialSocket(t, result)
	for _, lp := range polls {
		waitFor(t, 5*time.Second, "the tally sent on connect to poll "+lp.id(), func() bool { _, ok := lp.ws.last(); return ok })
	}
	defaultBefore := apiTally(t, result)

	// Voters: even ones through the API, odd ones through the form; each
	// changes their mind once or twice. The last one votes in every poll.
	everywhere := newVoter(t)
	for pi, lp := range polls {
		n := len(lp.created.Options)
		for i := 0; i < 8; i++ {
			v := newVoter(t)
			for j := 0; j <= i%3; j++ {
				opt := poll.OptionID((i*7 + j*5 + pi) % n)
				if i%2 == 0 {
					if code, body := v.votePoll(t, vote, lp.id(), opt); code != http.StatusAccepted {
						t.Fatalf("vote %s in %s: got %d %s, want 202", opt, lp.id(), code, body)
					}
				} else if code, body := v.voteForm(t, vote, "/p/"+lp.id(), opt); code != http.StatusOK {
					t.Fatalf("form vote %s in %s: got %d, want 200 (the page, or a 303 back to it)\n%.300s", opt, lp.id(), code, body)
				}
				if v.id == "" {
					t.Fatalf("no voter id after voting in %s", lp.id())
				}
				lp.last[v.id] = opt
			}
			lp.voters = append(lp.voters, v)
		}
		opt := poll.OptionID(n - 1)
		if code, body := everywhere.votePoll(t, vote, lp.id(), opt); code != http.StatusAccepted {
			t.Fatalf("vote in %s: got %d %s", lp.id(), code, body)
		}
		lp.last[everywhere.id] = opt
	}
	for _, lp := range polls {
		e.waitPollAgrees(result, lp, every)
	}
	formVoter := newVoter(t)
	if code, body := formVoter.voteMultipart(t, vote, "/p/"+polls[1].id(), "c"); code != http.StatusOK || formVoter.id == "" {
		t.Fatalf("multipart form vote: got %d, want 200 and a voter_id cookie\n%.300s", code, body)
	}
	polls[1].last[formVoter.id] = "c"

	// One poll's votes never move another's tally: vote in the first poll
	// only and watch the others stand still.
	e.waitPollAgrees(result, polls[1], every)
	still := map[string]int{}
	versions := map[string]int64{}
	for _, lp := range polls[1:] {
		msgs, _ := lp.ws.messages()
		still[lp.id()] = len(msgs)
		_, tl := readPollTally(t, result, lp.id())
		versions[lp.id()] = tl.Version
	}
	for i := 0; i < 5; i++ {
		v := newVoter(t)
		if code, body := v.votePoll(t, vote, polls[0].id(), "b"); code != http.StatusAccepted {
			t.Fatalf("vote: got %d %s", code, body)
		}
		polls[0].last[v.id] = "b"
	}
	e.waitPollAgrees(result, polls[0], every)
	time.Sleep(300 * time.Millisecond)
	for _, lp := range polls[1:] {
		if msgs, _ := lp.ws.messages(); len(msgs) != still[lp.id()] {
			t.Errorf("poll %s's WebSocket got %d messages while only poll %s had votes, want none: %+v",
				lp.id(), len(msgs)-still[lp.id()], polls[0].id(), msgs[still[lp.id()]:])
		}
		if _, tl := readPollTally(t, result, lp.id()); tl.Version != versions[lp.id()] || !sameCounts(tl, lp.want()) {
			t.Errorf("poll %s moved to %+v while only poll %s had votes", lp.id(), tl, polls[0].id())
		}
	}

	// Close the second poll: a new version, state closed, counts final.
	closing := polls[1]
	_, before := readPollTally(t, result, closing.id())
	code, closed, body := manage(t, vote, closing.id(), "close", closing.created.ManageToken)
	if code != http.StatusOK || closed.ID != closing.id() || closed.State != poll.StateClosed {
		t.Fatalf("close: got %d %s, want 200 with the poll closed", code, body)
	}
	if code, got, body := getPoll(t, vote, closing.id()); code != http.StatusOK || got.State != poll.StateClosed {
		t.Errorf("GET /api/polls/%s after the close: got %d %s, want state closed", closing.id(), code, body)
	}
	late := newVoter(t)
	if code, body := late.votePoll(t, vote, closing.id(), "a"); code != http.StatusConflict || !strings.Contains(strings.ToLower(errorText(body)), "closed") {
		t.Errorf("vote after the close: got %d %s, want 409 with an error saying the poll is closed", code, body)
	}
	if code, body := late.voteForm(t, vote, "/p/"+closing.id(), "a"); code != http.StatusConflict {
		t.Errorf("form vote after the close: got %d, want 409\n%.300s", code, body)
	}
	if code, body := closing.voterOf(t).votePoll(t, vote, closing.id(), "b"); code != http.StatusConflict {
		t.Errorf("changed vote after the close: got %d %s, want 409", code, body)
	}
	if code, body, _ := request(t, nil, http.MethodGet, vote.url("/p/"+closing.id()), "", ""); code != http.StatusOK || strings.Contains(string(body), `name="vote"`) {
		t.Errorf("the page of a closed poll: got %d, want 200 with no vote button (name=\"vote\")", code)
	}
	closing.state = poll.StateClosed
	closedTally := e.waitPollAgrees(result, closing, every)
	if closedTally.State != poll.StateClosed || closedTally.Version <= before.Version {
		t.Errorf("tally after the close: got %+v, want state closed at a version above %d", closedTally, before.Version)
	}
	if tl, _ := closing.ws.last(); tl.State != poll.StateClosed || tl.Version != closedTally.Version {
		t.Errorf("WebSocket after the close: got %+v, want state closed at version %d", tl, closedTally.Version)
	}
	if tl, _ := every.newest(closing.id()); tl.State != poll.StateClosed || tl.Version != closedTally.Version {
		t.Errorf("NATS after the close: got %+v, want state closed at version %d", tl, closedTally.Version)
	}
	// A closed poll's tally stays put while the others take votes.
	v := newVoter(t)
	if code, body := v.votePoll(t, vote, polls[2].id(), "l"); code != http.StatusAccepted {
		t.Fatalf("vote in an open poll while another is closed: got %d %s", code, body)
	}
	polls[2].last[v.id] = "l"
	e.waitPollAgrees(result, polls[2], every)

	// Reopen: a new version, open, votes accepted again.
	code, reopened, body := manage(t, vote, closing.id(), "reopen", closing.created.ManageToken)
	if code != http.StatusOK || reopened.State != poll.StateOpen {
		t.Fatalf("reopen: got %d %s, want 200 with the poll open", code, body)
	}
	if code, body := late.votePoll(t, vote, closing.id(), "b"); code != http.StatusAccepted {
		t.Fatalf("vote after the reopen: got %d %s, want 202", code, body)
	}
	closing.last[late.id] = "b"
	closing.state = poll.StateOpen
	open := e.waitPollAgrees(result, closing, every)
	if open.State != poll.StateOpen || open.Version <= closedTally.Version {
		t.Errorf("tally after the reopen: got %+v, want open at a version above %d", open, closedTally.Version)
	}

	// The CSV: a header, one line per option in order, labels exact (the
	// fixture has a comma and quotes in them), counts and percentages.
	for _, lp := range polls {
		ct, recs := resultsCSV(t, result, lp.id())
		if !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("results.csv of %s: Content-Type %q, want text/csv", lp.id(), ct)
		}
		checkCSV(t, lp, recs)
	}

	// The default poll did not move, and its routes of version 1 and 2
	// agree; the bare subject carried the default poll only.
	if got := apiTally(t, result); got.Total != 0 || got.Poll != poll.DefaultID || got.Version != defaultBefore.Version {
		t.Errorf("/api/tally moved to %+v while only other polls had votes", got)
	}
	if code, got := readPollTally(t, result, poll.DefaultID); code != http.StatusOK || got.Poll != poll.DefaultID || got.Version != defaultBefore.Version {
		t.Errorf("/api/polls/default/tally: got %d %+v, want the tally of /api/tally", code, got)
	}
	if tl, ok := defaultWS.last(); !ok || tl.Poll != poll.DefaultID || tl.Total != 0 {
		t.Errorf("/ws (the default poll) last got %+v, want the default poll's empty tally", tl)
	}
	got, bad := bare.all()
	for _, tl := range got {
		if tl.Poll != poll.DefaultID {
			t.Errorf("the bare subject %s carried poll %s's tally; only the default poll's belong there", e.subject(), tl.Poll)
			break
		}
	}
	_, badEvery := every.all()
	for _, b := range append(bad, badEvery...) {
		t.Errorf("NATS: %s", b)
	}
	for _, lp := range polls {
		msgs, _ := lp.ws.messages()
		for i, m := range msgs {
			if m.Poll != lp.id() {
				t.Errorf("WebSocket of poll %s got poll %q's tally", lp.id(), m.Poll)
			}
			if i > 0 && m.Version <= msgs[i-1].Version {
				t.Errorf("WebSocket of poll %s: version %d after %d, want strictly increasing", lp.id(), m.Version, msgs[i-1].Version)
			}
		}
	}
}

// voterOf returns one of the poll's voters (with their cookies).
func (lp *livePoll) voterOf(t testing.TB) *voter {
	t.Helper()
	if len(lp.voters) == 0 {
		t.Fatal("the poll has no voter")
	}
	return lp.voters[0]
}

// errorText returns the "error" of a JSON error body, or the body.
func errorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return string(body)
}

// waitPollAgrees waits until the stream is drained and the poll's result
// API tally, last WebSocket message and newest NATS tally all equal the
// oracle, then checks the ballots rows; it returns the tally.
func (e *env) waitPollAgrees(result *proc, lp *livePoll, nl *natsLog) tally.Tally {
	e.t.Helper()
	want := lp.want()
	var tl tally.Tally
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		code, api := readPollTally(e.t, result, lp.id())
		ws, _ := lp.ws.last()
		nt, _ := nl.newest(lp.id())
		if err == nil && n == 0 && code == http.StatusOK && sameCounts(api, want) && api.State == lp.state &&
			ws.Version == api.Version && sameCounts(ws, want) && ws.State == lp.state &&
			nt.Version == api.Version && sameCounts(nt, want) && nt.State == lp.state {
			tl = api
			break
		}
		if time.Now().After(deadline) {
			lp.ws.mu.Lock()
			wsEnd, wsN := lp.ws.closeErr, len(lp.ws.got)
			lp.ws.mu.Unlock()
			_, metrics, _ := request(e.t, nil, http.MethodGet, result.url("/metrics"), "", "")
			var wsMetrics []string
			for _, l := range strings.Split(string(metrics), "\n") {
				if strings.HasPrefix(l, "result_websocket") {
					wsMetrics = append(wsMetrics, l)
				}
			}
			e.t.Fatalf("poll %s not showing %v, %s, everywhere within 15s: stream %d entries (err %v); API %d %+v; WebSocket %+v (%d messages, connection ended: %v); NATS %+v; result metrics %s",
				lp.id(), want, lp.state, n, err, code, api, ws, wsN, wsEnd, nt, strings.Join(wsMetrics, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := withZeros(e.pollCounts(lp.id()), lp.created.OptionIDs()); !mapsEqual(got, want) {
		e.t.Errorf("ballots of poll %s count %v, want %v", lp.id(), got, want)
	}
	e.checkPollRows(lp.id(), lp.last)
	return tl
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkCSV checks results.csv against the poll and its oracle.
func checkCSV(t *testing.T, lp *livePoll, recs [][]string) {
	t.Helper()
	want := lp.want()
	var total int64
	for _, n := range want {
		total += n
	}
	if len(recs) != len(lp.created.Options)+1 {
		t.Errorf("results.csv of %s has %d records, want a header and %d options: %q", lp.id(), len(recs), len(lp.created.Options), recs)
		return
	}
	if h := strings.Join(recs[0], ","); h != "option,label,votes,percent" {
		t.Errorf("results.csv header %q, want option,label,votes,percent", h)
	}
	var sum float64
	for i, o := range lp.created.Options {
		r := recs[i+1]
		if len(r) != 4 {
			t.Errorf("results.csv line %d: %q, want 4 fields", i+2, r)
			continue
		}
		n, err := strconv.ParseInt(r[2], 10, 64)
		if r[0] != o.ID || r[1] != o.Label || err != nil || n != want[o.ID] {
			t.Errorf("results.csv line %d: %q, want %s,%q,%d,…", i+2, r, o.ID, o.Label, want[o.ID])
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(r[3], "%"), 64)
		exact := 0.0
		if total > 0 {
			exact = 100 * float64(want[o.ID]) / float64(total)
		}
		if err != nil || math.Abs(pct-exact) >= 1 {
			t.Errorf("results.csv line %d: percent %q, want %.2f rounded", i+2, r[3], exact)
		}
		sum += pct
	}
	if total > 0 && math.Abs(sum-100) > 0.5 {
		t.Errorf("results.csv of %s: percentages add up to %v, want 100", lp.id(), sum)
	}
}
