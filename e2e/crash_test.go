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

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// oracle is the test's own record of each voter's last acknowledged vote
// in each poll.
type oracle struct {
	mu    sync.Mutex
	last  map[ballotKey]string // → option id
	acked int
}

// ballotKey is one voter in one poll: a row of ballots.
type ballotKey struct{ poll, voter string }

func newOracle() *oracle { return &oracle{last: make(map[ballotKey]string)} }

func (o *oracle) record(pollID, voterID, option string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[ballotKey{pollID, voterID}] = option
	o.acked++
}

// counts is what the poll's tally must show: every one of options, 0 where
// nobody chose it.
func (o *oracle) counts(pollID string, options []string) map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := make(map[string]int64, len(options))
	for _, opt := range options {
		c[opt] = 0
	}
	for k, opt := range o.last {
		if k.poll == pollID {
			c[opt]++
		}
	}
	return c
}

// snapshot is what the poll's ballots must hold: voter → option.
func (o *oracle) snapshot(pollID string) map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := make(map[string]string)
	for k, v := range o.last {
		if k.poll == pollID {
			m[k.voter] = v
		}
	}
	return m
}

// voters is how many distinct voters voted, in any poll.
func (o *oracle) voters() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := make(map[string]bool, len(o.last))
	for k := range o.last {
		seen[k.voter] = true
	}
	return len(seen)
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
					o.record(poll.DefaultID, v.id, opt)
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

	o := newOracle()
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
	// the vote server would), drained by workers killed a few milliseconds
	// after they began to read it (a worker's start-up, migrations and
	// restores included, takes a varying while, so the kill waits for the
	// first entries to be taken): with batches of 50 most kills land
	// mid-batch, which pending entries left behind show.
	worker.kill()
	kills++
	for id, opt := range appendBacklog(t, e, 2000, 20000) {
		o.record(poll.DefaultID, id, opt)
	}
	pendingKills := 0
	for i := 0; i < 6; i++ {
		before := e.entriesRead()
		worker = e.start("worker", workerEnv...)
		waitFor(t, 20*time.Second, "the worker to take entries from the backlog", func() bool {
			return e.entriesRead() > before
		})
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
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

	want := o.counts(poll.DefaultID, []string{"a", "b"})
	start := time.Now()
	// Drained first: counts can pass through the final figures on the way,
	// an empty stream with nothing pending cannot.
	// Generous: batches of 50 drain slowly on a loaded machine (load
	// average 20 once took over 30 s); what is checked is that nothing
	// stays behind, not how fast.
	waitFor(t, 90*time.Second, "the stream to drain and nothing to stay pending", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		p, perr := e.rdb.XPending(context.Background(), e.stream(), "workers").Result()
		return err == nil && perr == nil && n == 0 && p.Count == 0
	})
	waitFor(t, 10*time.Second, fmt.Sprintf("the tally to reach %v", want), func() bool {
		tl := apiTally(t, result)
		return sameCounts(tl, want)
	})
	t.Logf("%d votes over HTTP and 20000 in the backlog from %d voters; %d kills; converged %v after the last",
		o.acked, o.voters(), kills, time.Since(start).Round(time.Millisecond))
	e.checkRows(o.snapshot(poll.DefaultID))
	e.checkPollRows(poll.DefaultID, o.snapshot(poll.DefaultID))
}

// entriesRead is how many entries the workers' consumer group has been
// given so far (0 before the group exists).
func (e *env) entriesRead() int64 {
	groups, err := e.rdb.XInfoGroups(context.Background(), e.stream()).Result()
	if err != nil {
		return 0
	}
	for _, g := range groups {
		if g.Name == "workers" {
			return g.EntriesRead
		}
	}
	return 0
}

// appendBacklog writes entries votes from voters synthetic voters straight
// to the test's stream, in the default poll, and returns each voter's last
// option. Half the entries are in version 1's format (no poll field), as a
// stream left by version 1 holds them; half name the poll.
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
		values := []string{ballot.FieldVoter, id, ballot.FieldVote, opt}
		if i%2 == 0 {
			values = append(values, ballot.FieldPoll, poll.DefaultID)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: e.stream(), Values: values})
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
