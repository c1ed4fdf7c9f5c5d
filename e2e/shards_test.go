package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// TestShardedStreamOneRedis runs the system with the stream split into
// four shards on one Redis, two vote servers and two workers: votes from
// many voters (in the default poll and a created one) reach every shard,
// every vote is counted, a voter who changes a vote keeps only the last
// one, and a close stops votes on every shard at once.
func TestShardedStreamOneRedis(t *testing.T) {
	e := newEnv(t)
	const shards = "VOTE_STREAM_SHARDS=4"
	e.start("worker", shards)
	e.start("worker", shards)
	votes := []*proc{e.start("vote", shards), e.start("vote", shards)}
	created := createPoll(t, votes[0], pollDefs(t)["three"])

	const voters = 120
	want := map[string]map[string]int64{poll.DefaultID: {}, created.ID: {}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	all := make([]*voter, voters)
	for i := range voters {
		all[i] = newVoter(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, vote := all[i], votes[i%2]
			// A first vote, then a change on the other vote server: only
			// the change counts.
			if code := v.vote(t, vote, "a"); code != http.StatusAccepted {
				t.Errorf("voter %d: default poll answered %d", i, code)
				return
			}
			last := []string{"a", "b"}[i%2]
			if code := v.vote(t, votes[(i+1)%2], last); code != http.StatusAccepted {
				t.Errorf("voter %d: default poll (change) answered %d", i, code)
				return
			}
			opt := created.OptionIDs()[i%3]
			if code, body := v.votePoll(t, vote, created.ID, opt); code != http.StatusAccepted {
				t.Errorf("voter %d: poll answered %d %s", i, code, body)
				return
			}
			mu.Lock()
			want[poll.DefaultID][last]++
			want[created.ID][opt]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitFor(t, 30*time.Second, "every vote in PostgreSQL", func() bool {
		return fmt.Sprint(e.pollCounts(poll.DefaultID)) == fmt.Sprint(want[poll.DefaultID]) &&
			fmt.Sprint(e.pollCounts(created.ID)) == fmt.Sprint(want[created.ID])
	})

	// Every shard's group read some of the entries.
	s, err := ballot.NewShards(e.stream(), 4)
	if err != nil {
		t.Fatal(err)
	}
	for k, key := range s.Keys() {
		groups, err := e.rdb.XInfoGroups(context.Background(), key).Result()
		if err != nil || len(groups) != 1 || groups[0].EntriesRead == 0 {
			t.Errorf("shard %d (%s): groups %+v, err %v; want one group that read entries", k, key, groups, err)
		}
	}

	// Closed on one vote server, the poll refuses votes on the other, on
	// every shard.
	if code, _, body := manage(t, votes[0], created.ID, "close", created.ManageToken); code != http.StatusOK {
		t.Fatalf("close answered %d %s", code, body)
	}
	for i, v := range all[:16] {
		if code, body := v.votePoll(t, votes[1], created.ID, "a"); code != http.StatusConflict {
			t.Errorf("voter %d (shard %d) after the close: %d %s, want 409", i, s.Of(v.id), code, body)
		}
	}
}

// TestShardsMismatchDrained: a vote server and a worker with different
// VOTE_STREAM_SHARDS (a change not made with the stream drained) lose no
// vote: the worker finds the streams of the other setting that hold
// entries and reads them too, in both directions.
func TestShardsMismatchDrained(t *testing.T) {
	for _, c := range []struct{ vote, worker string }{{"4", "1"}, {"1", "3"}} {
		t.Run("vote "+c.vote+" worker "+c.worker, func(t *testing.T) {
			e := newEnv(t)
			vote := e.start("vote", "VOTE_STREAM_SHARDS="+c.vote)
			want := map[string]int64{}
			for i := range 40 {
				opt := []string{"a", "b"}[i%3%2]
				if code := newVoter(t).vote(t, vote, opt); code != http.StatusAccepted {
					t.Fatalf("vote %d answered %d", i, code)
				}
				want[opt]++
			}
			worker := e.start("worker", "VOTE_STREAM_SHARDS="+c.worker)
			worker.waitReady()
			waitFor(t, 20*time.Second, "every vote in PostgreSQL", func() bool {
				return fmt.Sprint(e.pollCounts(poll.DefaultID)) == fmt.Sprint(want)
			})
			if !strings.Contains(worker.out.String(), "reading a stream of another VOTE_STREAM_SHARDS") {
				t.Errorf("the worker did not say it reads a stream of another setting:\n%s", tail(worker.out.String(), 20))
			}
		})
	}
}
