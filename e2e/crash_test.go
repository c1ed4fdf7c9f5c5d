package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// oracle is the test's own record of each voter's last acknowledged vote.
type oracle struct {
	mu    sync.Mutex
	last  map[string]string // voter id → option
	acked int
}

func (o *oracle) record(voterID, option string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[voterID] = option
	o.acked++
}

func (o *oracle) counts() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := map[string]int64{"a": 0, "b": 0}
	for _, opt := range o.last {
		c[opt]++
	}
	return c
}

// load has voters vote for a while, new voters and changes of mind mixed,
// each voter's votes one after another; it records every acknowledged vote.
func load(t *testing.T, vote *proc, voters, votesEach int, o *oracle) {
	var wg sync.WaitGroup
	for i := 0; i < voters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := newVoter(t)
			for j := 0; j < votesEach; j++ {
				opt := []string{"a", "b"}[rand.IntN(2)]
				if code := v.vote(t, vote, opt); code == http.StatusAccepted {
					o.record(v.id, opt)
				} else {
					t.Errorf("vote answered %d", code)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWorkerKilledMidBatchLosesNothing kills the worker with SIGKILL again
// and again while votes pour in and the backlog drains; once a worker runs
// again, the tally and the table hold exactly each voter's last vote.
func TestWorkerKilledMidBatchLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result")
	vote := e.start("vote")
	// Small batches: more batches in flight to be killed in the middle of.
	workerEnv := []string{"WORKER_BATCH=50"}
	worker := e.start("worker", workerEnv...)

	o := &oracle{last: make(map[string]string)}
	loaded := make(chan struct{})
	go func() { load(t, vote, 80, 40, o); close(loaded) }()

	kills := 0
	for running := true; running; {
		select {
		case <-loaded:
			running = false
		case <-time.After(time.Duration(100+rand.IntN(300)) * time.Millisecond):
			worker.kill()
			kills++
			worker = e.start("worker", workerEnv...)
		}
	}
	// Then a backlog of 20,000 entries (written straight to the stream, as
	// the vote server would), drained by workers killed a few tens of
	// milliseconds in: with batches of 50 most kills land mid-batch, which
	// pending entries left behind show.
	worker.kill()
	kills++
	for id, opt := range appendBacklog(t, e, 2000, 20000) {
		o.last[id] = opt
	}
	pendingKills := 0
	for i := 0; i < 6; i++ {
		worker = e.start("worker", workerEnv...)
		time.Sleep(time.Duration(30+rand.IntN(70)) * time.Millisecond)
		worker.kill()
		kills++
		if p, err := e.rdb.XPending(context.Background(), e.stream(), "workers").Result(); err == nil && p.Count > 0 {
			pendingKills++
		}
	}
	e.start("worker", workerEnv...)
	t.Logf("%d of 6 kills during the backlog left entries pending", pendingKills)
	if pendingKills == 0 {
		t.Fatal("no kill landed while a batch was pending: the test proved nothing")
	}

	want := o.counts()
	start := time.Now()
	// Drained first: counts can pass through the final figures on the way,
	// an empty stream with nothing pending cannot.
	waitFor(t, 30*time.Second, "the stream to drain and nothing to stay pending", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		p, perr := e.rdb.XPending(context.Background(), e.stream(), "workers").Result()
		return err == nil && perr == nil && n == 0 && p.Count == 0
	})
	waitFor(t, 10*time.Second, fmt.Sprintf("the tally to reach %v", want), func() bool {
		tl := apiTally(t, result)
		return tl.Counts["a"] == want["a"] && tl.Counts["b"] == want["b"]
	})
	t.Logf("%d votes over HTTP and 20000 in the backlog from %d voters; %d kills; converged %v after the last",
		o.acked, len(o.last), kills, time.Since(start).Round(time.Millisecond))
	e.checkRows(o.last)
}

// appendBacklog writes entries votes from voters synthetic voters straight
// to the test's stream and returns each voter's last option.
func appendBacklog(t *testing.T, e *env, voters, entries int) map[string]string {
	t.Helper()
	ids := make([]string, voters)
	for i := range ids {
		ids[i] = fmt.Sprintf("backlog%015d", i)
	}
	last := make(map[string]string, voters)
	ctx := context.Background()
	pipe := e.rdb.Pipeline()
	for i := 0; i < entries; i++ {
		id, opt := ids[rand.IntN(voters)], []string{"a", "b"}[rand.IntN(2)]
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: e.stream(), Values: []string{"voter", id, "vote", opt}})
		last[id] = opt
		if pipe.Len() == 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return last
}
