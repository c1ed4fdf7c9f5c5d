package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"livevote/shared/poll"
)

// TestFanoutPollsViewers is the viewers phase of `make bench` made small
// (issue 10): 100 polls, each watched by 10 WebSocket clients, votes on
// every poll at once (new voters, and some of them changing their minds);
// every viewer ends on its poll's exact tally, the one PostgreSQL holds,
// and sees no other poll's.
func TestFanoutPollsViewers(t *testing.T) {
	t.Parallel()
	const (
		polls     = 100
		viewers   = 10
		voters    = 4 // new voters per poll
		changes   = 2 // of them change their minds
		senders   = 20
		convergeT = 20 * time.Second
	)
	e := newEnv(t)
	result := e.start("result", fmt.Sprintf("WS_MAX_CLIENTS_PER_ADDRESS=%d", 2*polls*viewers))
	worker, vote := e.start("worker"), e.start("vote")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}

	created := make([]poll.Created, polls)
	for i := range created {
		opts := []string{"Red", "Green", "Blue"}[:2+i%2]
		created[i] = createPoll(t, vote, pollDef{Name: fmt.Sprint(i), Question: fmt.Sprintf("Viewers poll %d?", i), Options: opts})
	}
	for _, c := range created {
		waitPollKnown(t, result, c.ID)
	}
	sockets := make([][]*socket, polls)
	for i, c := range created {
		for range viewers {
			sockets[i] = append(sockets[i], dialPollSocket(t, result, c.ID))
		}
	}

	// Each sender owns every senders-th poll, so a voter's change of mind
	// follows its first vote's acknowledgement.
	want := make([]map[string]int64, polls)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < polls; i += senders {
				c := created[i]
				last := map[*voter]string{}
				var order []*voter
				for range voters {
					v := newVoter(t)
					opt := c.Options[rand.IntN(len(c.Options))].ID
					if code, body := v.votePoll(t, vote, c.ID, opt); code != http.StatusAccepted {
						t.Errorf("vote in %s: got %d %s, want 202", c.ID, code, body)
						return
					}
					last[v] = opt
					order = append(order, v)
				}
				for _, v := range order[:changes] {
					opt := c.Options[(indexOf(c.Options, last[v])+1)%len(c.Options)].ID
					if code, body := v.votePoll(t, vote, c.ID, opt); code != http.StatusAccepted {
						t.Errorf("change of mind in %s: got %d %s, want 202", c.ID, code, body)
						return
					}
					last[v] = opt
				}
				counts := zeroCounts(c.Options)
				for _, opt := range last {
					counts[opt]++
				}
				want[i] = counts
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	waitFor(t, convergeT, "every viewer on its poll's final tally", func() bool {
		for i := range created {
			for _, s := range sockets[i] {
				if tl, ok := s.last(); !ok || !sameCounts(tl, want[i]) {
					return false
				}
			}
		}
		return true
	})
	for i, c := range created {
		db := withZeros(e.pollCounts(c.ID), optionIDs(c.Options))
		if fmt.Sprint(db) != fmt.Sprint(want[i]) {
			t.Errorf("poll %s in PostgreSQL: %v, want %v", c.ID, db, want[i])
		}
		for j, s := range sockets[i] {
			got, raw := s.messages()
			for k, tl := range got {
				if tl.Poll != c.ID {
					t.Errorf("viewer %d of %s got a message of another poll: %s", j, c.ID, raw[k])
				}
				if k > 0 && tl.Version <= got[k-1].Version {
					t.Errorf("viewer %d of %s got version %d after %d", j, c.ID, tl.Version, got[k-1].Version)
				}
			}
			if last := got[len(got)-1]; !sameCounts(last, db) {
				t.Errorf("viewer %d of %s ends on %v, PostgreSQL has %v", j, c.ID, last.Counts, db)
			}
		}
	}
}

func indexOf(options []poll.Option, id string) int {
	for i, o := range options {
		if o.ID == id {
			return i
		}
	}
	return -1
}

func optionIDs(options []poll.Option) []string {
	ids := make([]string, len(options))
	for i, o := range options {
		ids[i] = o.ID
	}
	return ids
}
