package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"livevote/shared/poll"
)

// TestVotesRightAfterCreateWithSeveralWorkers creates polls and votes in
// each the moment the vote server has acknowledged its creation, with three
// workers sharing the stream in small batches: a poll's create and its
// first votes then often go to different workers. Every acknowledged vote
// must be counted all the same ("several workers at once").
func TestVotesRightAfterCreateWithSeveralWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result")
	workerEnv := []string{"WORKER_BATCH=4"}
	var workers []*proc
	for i := 0; i < 3; i++ {
		workers = append(workers, e.start("worker", workerEnv...))
	}
	vote := e.start("vote")
	for _, p := range append([]*proc{result, vote}, workers...) {
		p.waitReady()
	}

	const polls, votesEach = 12, 8
	o := newOracle()
	ids := make([]string, polls)
	var wg sync.WaitGroup
	for i := range ids {
		c := createPoll(t, vote, pollDef{Name: fmt.Sprint(i), Question: fmt.Sprintf("Right away %d?", i),
			Options: []string{"Left", "Right", "Centre"}})
		ids[i] = c.ID
		for j := 0; j < votesEach; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := newVoter(t)
				opt := poll.OptionID(j % 3)
				// votePoll's own checks may t.Error; the status is ours.
				if code, body := v.votePoll(t, vote, c.ID, opt); code != http.StatusAccepted {
					t.Errorf("vote in %s right after its creation: got %d %s, want 202", c.ID, code, body)
					return
				}
				o.record(c.ID, v.id, opt)
			}()
		}
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "the stream to drain", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		return err == nil && n == 0
	})
	lost := 0
	for _, id := range ids {
		want := o.counts(id, []string{"a", "b", "c"})
		var got map[string]int64
		deadline := time.Now().Add(10 * time.Second)
		for {
			got = withZeros(e.pollCounts(id), []string{"a", "b", "c"})
			if mapsEqual(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !mapsEqual(got, want) {
			var n, w int64
			for k := range want {
				n, w = n+got[k], w+want[k]
			}
			lost += int(w - n)
			t.Errorf("poll %s: ballots count %v, want %v (every vote acknowledged)", id, got, want)
			continue
		}
		if code, tl := readPollTally(t, result, id); code != http.StatusOK || !sameCounts(tl, want) {
			t.Errorf("poll %s: /api/polls/%s/tally got %d %v, want %v", id, id, code, tl.Counts, want)
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged votes lost over %d polls", lost, polls)
	}
}
