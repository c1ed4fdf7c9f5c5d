package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"livevote/shared/poll"
)

// TestPollsComeBackAfterRedisLosesItsData deletes the stream and every poll
// copy from Redis, as a Redis restarted without persistence would have
// lost them, with no process restarted: the worker notices its consumer
// group gone and writes the polls of PostgreSQL back, so votes in an open
// poll are accepted again (and added to what was counted), and a closed
// poll stays closed (409, not 404 and not accepted).
func TestPollsComeBackAfterRedisLosesItsData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, _, vote := e.startAll()
	defs := pollDefs(t)
	open := createPoll(t, vote, defs["three"])
	closed := createPoll(t, vote, defs["two"])
	first := newVoter(t)
	if code, body := first.votePoll(t, vote, open.ID, "b"); code != http.StatusAccepted {
		t.Fatalf("vote: got %d %s", code, body)
	}
	if code, _, body := manage(t, vote, closed.ID, "close", closed.ManageToken); code != http.StatusOK {
		t.Fatalf("close: got %d %s", code, body)
	}
	waitFor(t, 15*time.Second, "the vote and the close in PostgreSQL", func() bool {
		_, a := readPollTally(t, result, open.ID)
		_, b := readPollTally(t, result, closed.ID)
		return a.Counts["b"] == 1 && b.State == poll.StateClosed
	})

	e.dropRedisKeys()
	if keys := e.pollKeys(); len(keys) != 0 {
		t.Fatalf("poll copies left after deleting them: %v", keys)
	}

	second := newVoter(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := second.votePoll(t, vote, open.ID, "c")
		if code == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a vote in the open poll 20s after Redis lost its data: got %d %s, want 202 once the worker restored the poll", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := newVoter(t).votePoll(t, vote, closed.ID, "a"); code != http.StatusConflict {
		t.Errorf("vote in the closed poll after the restore: got %d %s, want 409 (restored as closed)", code, body)
	}
	if code, p, body := getPoll(t, vote, closed.ID); code != http.StatusOK || p.State != poll.StateClosed {
		t.Errorf("GET /api/polls/%s after the restore: got %d %s, want it closed", closed.ID, code, body)
	}
	want := map[string]int64{"a": 0, "b": 1, "c": 1}
	waitFor(t, 15*time.Second, "the open poll's tally with the votes before and after", func() bool {
		_, tl := readPollTally(t, result, open.ID)
		return sameCounts(tl, want)
	})
	e.checkPollRows(open.ID, map[string]string{first.id: "b", second.id: "c"})
	if n, err := e.rdb.XLen(context.Background(), e.stream()).Result(); err != nil || n != 0 {
		t.Errorf("stream holds %d entries (err %v) once counted, want 0", n, err)
	}
}
