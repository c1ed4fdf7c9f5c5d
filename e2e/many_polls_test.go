package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livevote/shared/poll"
)

// metric reads one unlabelled value from a server's /metrics.
func metric(t testing.TB, p *proc, name string) float64 {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodGet, p.url("/metrics"), "", "")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: got %d", p.name, code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s /metrics: %s: %v", p.name, line, err)
			}
			return f
		}
	}
	t.Fatalf("%s /metrics has no %s", p.name, name)
	return 0
}

// TestManyPollsCostNoGoroutineEach creates 150 polls, has the result
// server hold every one of them (each read once, a few with a WebSocket),
// votes in a handful, and checks that neither the result server nor the
// worker grew a goroutine per poll: many polls must not multiply
// goroutines or timers while nothing changes.
func TestManyPollsCostNoGoroutineEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, worker, vote := e.startAll()
	const polls = 150
	// A baseline with one poll held and one client, so what is counted
	// after is what more polls cost.
	first := createPoll(t, vote, pollDef{Name: "first", Question: "Baseline?", Options: []string{"Yes", "No"}})
	waitPollKnown(t, result, first.ID)
	dialPollSocket(t, result, first.ID)
	time.Sleep(300 * time.Millisecond)
	baseResult, baseWorker := metric(t, result, "go_goroutines"), metric(t, worker, "go_goroutines")

	ids := make([]string, polls)
	for i := range ids {
		def := pollDef{Name: fmt.Sprint(i), Question: fmt.Sprintf("Question %d?", i), Options: []string{"One", "Two", "Three"}}
		ids[i] = createPoll(t, vote, def).ID
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Not waitPollKnown: t.Fatal belongs to the test's goroutine.
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				resp, err := http.Get(result.url("/api/polls/" + id + "/tally"))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return
					}
				}
				if time.Now().After(deadline) {
					t.Errorf("the result server does not know poll %s 15s after its creation", id)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, id := range ids[:3] {
		dialPollSocket(t, result, id)
	}
	for _, id := range ids[:10] {
		if code, body := newVoter(t).votePoll(t, vote, id, "c"); code != http.StatusAccepted {
			t.Fatalf("vote in %s: got %d %s", id, code, body)
		}
	}
	waitFor(t, 15*time.Second, "the votes counted", func() bool {
		for _, id := range ids[:10] {
			if _, tl := readPollTally(t, result, id); tl.Counts["c"] != 1 {
				return false
			}
		}
		return true
	})
	if held := metric(t, result, "result_polls_held"); held < polls+1 {
		t.Fatalf("the result server holds %v polls, want at least %d: the test did not load it", held, polls+1)
	}
	// Goroutines of finished requests and the three new clients' (a
	// reader and a writer each) may linger a moment; a goroutine per poll
	// would be 150 more.
	const slack = 30
	waitFor(t, 5*time.Second, "the result server's and worker's goroutines to settle", func() bool {
		return metric(t, result, "go_goroutines") < baseResult+slack && metric(t, worker, "go_goroutines") < baseWorker+slack
	})
	t.Logf("goroutines with 1 poll held → %d: result %v → %v, worker %v → %v", polls+1,
		baseResult, metric(t, result, "go_goroutines"), baseWorker, metric(t, worker, "go_goroutines"))
	if _, tl := readPollTally(t, result, poll.DefaultID); tl.Poll != poll.DefaultID {
		t.Errorf("the default poll's tally is %+v with many polls held", tl)
	}
}
