package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"livevote/shared/poll"
	"livevote/shared/schema"
	"livevote/shared/tally"
)

// pollsResult is the many-polls phase: the ingest phase's load spread over
// many open polls, end to end until every poll's tally is exact.
type pollsResult struct {
	Polls          int     `json:"polls"`
	Options        int     `json:"options"` // over all polls
	CreateSeconds  float64 `json:"create_seconds"`
	CreatedPerSec  float64 `json:"created_per_sec"`
	Conns          int     `json:"conns"`
	Seconds        float64 `json:"seconds"`
	Acked          int64   `json:"acked"`
	Refused        int64   `json:"refused"`
	NewVoters      int64   `json:"new_voters"`
	Changes        int64   `json:"changes"`
	AckedPerSec    float64 `json:"acked_per_sec"`
	AckP50Ms       float64 `json:"ack_p50_ms"`
	AckP99Ms       float64 `json:"ack_p99_ms"`
	DrainedSeconds float64 `json:"drained_seconds"`
	EndToEndPerSec float64 `json:"end_to_end_per_sec"`
	// ExactBy is where every poll's tally was seen exact: "postgres" (the
	// result server's own query, schema.SelectTallies) or "result API".
	ExactBy string `json:"exact_by"`
	// ResultAPISeconds is when, from the first vote, the result server's
	// /api/polls/{id}/tally of every poll was exact too.
	ResultAPISeconds float64 `json:"result_api_seconds"`
	// SinglePollPerSec is the ingest phase's end-to-end figure of the same
	// run, and Ratio this phase's share of it (the target is 0.8).
	SinglePollPerSec float64 `json:"single_poll_per_sec,omitempty"`
	Ratio            float64 `json:"ratio,omitempty"`
}

// benchPoll is one poll of the phase: its id, option ids and vote route.
type benchPoll struct {
	id       string
	options  []string
	endpoint string
}

// ballotState is one voter's ballot in one poll, as the generator sent it.
type ballotState struct {
	poll   int    // index in the polls
	voter  string // the voter id of the answer
	cookie string // the voter_id cookie to send back
	opt    string
}

// pollDefinition returns the i-th poll's definition: 2 to 12 options in
// turn, so every size is under load.
func pollDefinition(i int) poll.CreateRequest {
	n := poll.MinOptions + i%(poll.MaxOptions-poll.MinOptions+1)
	req := poll.CreateRequest{Question: fmt.Sprintf("Bench poll %d: which one?", i+1)}
	for j := 0; j < n; j++ {
		req.Options = append(req.Options, fmt.Sprintf("Choice %d", j+1))
	}
	return req
}

// createPolls creates n polls through POST /api/polls, 16 at a time.
func createPolls(ctx context.Context, voteURL string, n int) ([]benchPoll, error) {
	polls := make([]benchPoll, n)
	next := atomic.Int64{}
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				body, _ := json.Marshal(pollDefinition(i))
				resp, err := client.Post(voteURL+"/api/polls", "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var c poll.Created
				err = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil || !poll.ValidID(c.ID) {
					errs <- fmt.Errorf("POST /api/polls answered %d (%v)", resp.StatusCode, err)
					return
				}
				polls[i] = benchPoll{id: c.ID, options: c.OptionIDs(), endpoint: voteURL + "/api/polls/" + c.ID + "/votes"}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return polls, ctx.Err()
}

// manyPolls creates o.polls polls, waits until the worker has them, then
// sends votes over o.conns keep-alive connections for o.duration, half
// from new voters in a random poll, half changes of mind of a ballot
// already sent, and waits until every poll's tally equals its own count.
func manyPolls(ctx context.Context, s *system, o options, progress func(string, ...any)) (pollsResult, error) {
	res := pollsResult{Polls: o.polls, Conns: o.conns}
	progress("polls: creating %d polls through POST /api/polls", o.polls)
	t0 := time.Now()
	polls, err := createPolls(ctx, s.vote, o.polls)
	if err != nil {
		return res, fmt.Errorf("creating polls: %w", err)
	}
	res.CreateSeconds = time.Since(t0).Seconds()
	res.CreatedPerSec = float64(o.polls) / res.CreateSeconds
	ids := make([]string, len(polls))
	for i, p := range polls {
		ids[i] = p.id
		res.Options += len(p.options)
	}
	// Start from polls the whole system knows, so the figure is about votes.
	zero := make([]map[string]int64, len(polls))
	for i, p := range polls {
		zero[i] = make(map[string]int64, len(p.options))
		for _, opt := range p.options {
			zero[i][opt] = 0
		}
	}
	check := s.exactChecker(ids)
	if err := waitExact(ctx, check, zero, time.Minute); err != nil {
		return res, fmt.Errorf("the new polls: %w", err)
	}
	progress("polls: %d polls created in %.1f s, %d options in all; every tally is 0; voting", o.polls, res.CreateSeconds, res.Options)

	st, start, err := sendLoad(ctx, s, o, polls, zero, "polls", progress)
	if err != nil {
		return res, err
	}
	res.Seconds = st.sent.Seconds()
	res.Acked, res.Refused, res.NewVoters, res.Changes = st.acked, st.refused, st.newVoters, st.changes
	res.AckedPerSec = float64(res.Acked) / st.sent.Seconds()
	res.AckP50Ms, res.AckP99Ms = st.ackP50Ms, st.ackP99Ms

	want := st.want
	progress("polls: sent for %.1fs; waiting until every poll's tally is exact (%s)", st.sent.Seconds(), check.by)
	if err := waitExact(ctx, check, want, 2*time.Minute); err != nil {
		return res, err
	}
	drained := time.Since(start)
	res.ExactBy = check.by
	res.DrainedSeconds = drained.Seconds()
	res.EndToEndPerSec = float64(res.Acked) / drained.Seconds()
	// What viewers are served must be exact too, not only the database.
	if check.by != byResultAPI {
		if err := waitExact(ctx, s.apiChecker(ids), want, time.Minute); err != nil {
			return res, fmt.Errorf("PostgreSQL was exact but the result API: %w", err)
		}
	}
	res.ResultAPISeconds = time.Since(start).Seconds()
	return res, nil
}

// otherOption returns an option of options other than cur.
func otherOption(options []string, cur string) string {
	for {
		if o := options[rand.IntN(len(options))]; o != cur {
			return o
		}
	}
}

const (
	byPostgres  = "postgres"
	byResultAPI = "result API"
)

// exactChecker reads every poll's current counts, one slice entry per poll.
type exactChecker struct {
	by   string
	read func(ctx context.Context, skip []bool) ([]map[string]int64, error)
}

// exactChecker reads the polls' tallies from PostgreSQL with the result
// server's own query when this program started the system (one query for
// every poll), else from the result API.
func (s *system) exactChecker(ids []string) exactChecker {
	if s.db == nil {
		return s.apiChecker(ids)
	}
	return exactChecker{by: byPostgres, read: func(ctx context.Context, _ []bool) ([]map[string]int64, error) {
		rows, err := s.db.Query(ctx, schema.SelectTallies, ids)
		if err != nil {
			return nil, err
		}
		tallies, err := schema.ScanTallies(rows)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]int64, len(ids))
		for i, id := range ids {
			out[i] = tallies[id].Counts
		}
		return out, nil
	}}
}

// apiChecker reads each poll's tally from the result server, 32 at a time,
// skipping the polls already seen exact.
func (s *system) apiChecker(ids []string) exactChecker {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	return exactChecker{by: byResultAPI, read: func(ctx context.Context, skip []bool) ([]map[string]int64, error) {
		out := make([]map[string]int64, len(ids))
		next := atomic.Int64{}
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(ids) || ctx.Err() != nil {
						return
					}
					if skip != nil && skip[i] {
						continue
					}
					resp, err := client.Get(s.result + "/api/polls/" + ids[i] + "/tally")
					if err != nil {
						continue
					}
					var t tally.Tally
					if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&t) == nil && t.Poll == ids[i] {
						out[i] = t.Counts
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		return out, ctx.Err()
	}}
}

// waitExact reads the counts until every poll's equal want's (every option,
// no other), within timeout.
func waitExact(ctx context.Context, c exactChecker, want []map[string]int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	exact := make([]bool, len(want))
	for {
		got, err := c.read(ctx, exact)
		if err == nil {
			for i := range want {
				if !exact[i] && countsEqual(got[i], want[i]) {
					exact[i] = true
				}
			}
		}
		wrong := missing(exact)
		if len(wrong) == 0 {
			// Once more, every poll in one pass: a poll's counts can pass
			// through the final figures while its last changes are queued.
			if got, err = c.read(ctx, nil); err == nil {
				for i := range want {
					exact[i] = countsEqual(got[i], want[i])
				}
				if wrong = missing(exact); len(wrong) == 0 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			n := len(wrong)
			if n > 5 {
				wrong = append(wrong[:5], "…")
			}
			return fmt.Errorf("%d polls not exact within %v by the %s (poll indexes %s; last error %v)", n, timeout, c.by, strings.Join(wrong, " "), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// missing lists the indexes not exact yet.
func missing(exact []bool) []string {
	var wrong []string
	for i, ok := range exact {
		if !ok {
			wrong = append(wrong, fmt.Sprint(i))
		}
	}
	return wrong
}

func countsEqual(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if n, ok := got[k]; !ok || n != v {
			return false
		}
	}
	return true
}

func (r *report) polls(res pollsResult) {
	rows := [][2]string{
		{"polls created", fmt.Sprintf("%d (%d options) in %.1f s, %.0f/s", res.Polls, res.Options, res.CreateSeconds, res.CreatedPerSec)},
		{"connections", fmt.Sprint(res.Conns)},
		{"sent for", fmt.Sprintf("%.1f s", res.Seconds)},
		{"acknowledged", fmt.Sprintf("%d (%d new ballots, %d changes)", res.Acked, res.NewVoters, res.Changes)},
		{"refused or failed", fmt.Sprint(res.Refused)},
		{"ingest, acknowledged", fmt.Sprintf("%.0f votes/s", res.AckedPerSec)},
		{"acknowledgement p50 / p99", fmt.Sprintf("%.2f / %.2f ms", res.AckP50Ms, res.AckP99Ms)},
		{"end to end, every poll exact", fmt.Sprintf("%.0f votes/s (exact in %s %.1f s after the first vote; result API %.1f s)",
			res.EndToEndPerSec, res.ExactBy, res.DrainedSeconds, res.ResultAPISeconds)},
	}
	if res.SinglePollPerSec > 0 {
		verdict := "below the 80 % target"
		if res.Ratio >= 0.8 {
			verdict = "target ≥ 80 % met"
		}
		rows = append(rows, [2]string{"single poll, same run (ingest)", fmt.Sprintf("%.0f votes/s end to end", res.SinglePollPerSec)},
			[2]string{"many polls / single poll", fmt.Sprintf("%.0f %% (%s)", 100*res.Ratio, verdict)})
	}
	r.emit(fmt.Sprintf("many polls (%d)", res.Polls), rows, res)
}
