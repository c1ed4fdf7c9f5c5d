package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"livevote/shared/tally"
)

// viewersResult is the viewers phase: many polls, each watched by many
// WebSocket clients, votes on every poll; every viewer must end on its
// poll's exact tally.
type viewersResult struct {
	Polls          int `json:"polls"`
	ViewersPerPoll int `json:"viewers_per_poll"`
	// ViewersAsked is the -viewers asked for when the open-file limit
	// allowed fewer; LimitNote says so.
	ViewersAsked int     `json:"viewers_asked,omitempty"`
	LimitNote    string  `json:"limit_note,omitempty"`
	Viewers      int     `json:"viewers"`
	Sources      int     `json:"source_addresses"`
	ConnectSecs  float64 `json:"connect_seconds"`
	VotesPerPoll int     `json:"votes_per_poll"`
	Acked        int64   `json:"acked"`
	Refused      int64   `json:"refused"`
	SendSeconds  float64 `json:"send_seconds"`
	// From sending a vote to each of its poll's viewers' first tally that
	// has it.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// AllSeconds is when, from the first vote, every viewer held its
	// poll's final tally.
	AllSeconds float64 `json:"all_viewers_final_seconds"`
	// Exact counts the viewers whose last tally has exactly the counts
	// PostgreSQL (or the result API) holds for their poll, which are the
	// generator's own.
	Exact       int     `json:"viewers_exact"`
	ExactBy     string  `json:"exact_by"`
	ResultRSSMB float64 `json:"result_rss_mb"`
}

// viewer is one WebSocket client of one poll.
type viewer struct {
	poll  int
	total atomic.Int64 // the highest total seen
	mu    sync.Mutex
	last  []byte // the message of the highest version seen
	ver   int64
}

// viewers creates o.viewerPolls polls, connects o.viewers WebSocket clients
// to each, sends o.viewerVotes new votes to every poll (each poll's votes
// one after the other, the polls at once), times each vote to each of its
// poll's viewers, and checks that every viewer ends on its poll's exact
// tally.
func viewers(ctx context.Context, s *system, o options, progress func(string, ...any), stats *procStats) (viewersResult, error) {
	res := viewersResult{Polls: o.viewerPolls, ViewersPerPoll: o.viewers, Viewers: o.viewerPolls * o.viewers,
		VotesPerPoll: o.viewerVotes, Sources: sources(o.viewerPolls * o.viewers), ViewersAsked: o.viewersAsked}
	if o.viewersAsked > 0 {
		var l syscall.Rlimit
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		res.LimitNote = fmt.Sprintf("%d viewers per poll asked; the open-file hard limit (%d per process, not raisable here) allows %d", o.viewersAsked, l.Max, o.viewers)
	}
	progress("viewers: creating %d polls", o.viewerPolls)
	polls, err := createPolls(ctx, s.vote, o.viewerPolls)
	if err != nil {
		return res, fmt.Errorf("creating polls: %w", err)
	}
	ids := make([]string, len(polls))
	zero := make([]map[string]int64, len(polls))
	for i, p := range polls {
		ids[i] = p.id
		zero[i] = make(map[string]int64, len(p.options))
		for _, opt := range p.options {
			zero[i][opt] = 0
		}
	}
	check := s.exactChecker(ids)
	if err := waitExact(ctx, check, zero, time.Minute); err != nil {
		return res, fmt.Errorf("the new polls: %w", err)
	}

	// sent[p][k] is when the k-th vote of poll p was sent (Unix ns): its
	// viewers have it once their total exceeds k.
	sent := make([][]atomic.Int64, len(polls))
	for p := range sent {
		sent[p] = make([]atomic.Int64, o.viewerVotes)
	}
	var (
		latMu sync.Mutex
		lats  []time.Duration
	)
	all := make([]*viewer, 0, res.Viewers)
	var readers sync.WaitGroup
	var conns []*wsClient
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	start := time.Now()
	sem := make(chan struct{}, 100)
	var (
		mu      sync.Mutex
		dials   sync.WaitGroup
		dialErr atomic.Value
	)
	base := wsURL(s.result)
	for i := 0; i < res.Viewers && ctx.Err() == nil; i++ {
		v := &viewer{poll: i / o.viewers}
		all = append(all, v)
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			c, err := dialWS(ctx, sourceDialer(i), base+"?poll="+ids[v.poll])
			if err != nil {
				dialErr.Store(err.Error())
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				buf := make([]byte, 512)
				var mine []time.Duration
				for {
					mine = mine[:0]
					b, err := c.next(buf)
					if err != nil {
						break
					}
					now := time.Now().UnixNano()
					ver, total := tallyFields(b)
					for k := v.total.Load(); k < min(total, int64(o.viewerVotes)); k++ {
						if at := sent[v.poll][k].Load(); at != 0 {
							mine = append(mine, time.Duration(now-at))
						}
					}
					v.mu.Lock()
					if ver > v.ver || v.last == nil {
						v.ver, v.last = ver, append(v.last[:0], b...)
					}
					v.mu.Unlock()
					if len(mine) > 0 {
						latMu.Lock()
						lats = append(lats, mine...)
						latMu.Unlock()
					}
					if total > v.total.Load() {
						v.total.Store(total)
					}
				}
			}()
		}()
		if i%10000 == 9999 {
			progress("viewers: %d dialled", i+1)
		}
	}
	dials.Wait()
	res.ConnectSecs = time.Since(start).Seconds()
	if len(conns) < res.Viewers {
		e, _ := dialErr.Load().(string)
		return res, fmt.Errorf("only %d of %d viewers connected (%s)", len(conns), res.Viewers, e)
	}
	progress("viewers: %d viewers of %d polls connected in %.1fs from %d source addresses; voting", res.Viewers, len(polls), res.ConnectSecs, res.Sources)
	time.Sleep(500 * time.Millisecond)
	res.ResultRSSMB = stats.rssMB("result")

	// Votes: each of 64 senders owns every 64th poll and sends its polls'
	// votes round by round, so a poll's votes go one after the other.
	want := make([]map[string]int64, len(polls))
	for i := range want {
		want[i] = make(map[string]int64, len(zero[i]))
		for k, v := range zero[i] {
			want[i][k] = v
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var acked, refused atomic.Int64
	var senders sync.WaitGroup
	t0 := time.Now()
	const nSenders = 64
	for w := 0; w < nSenders; w++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for k := 0; k < o.viewerVotes; k++ {
				for p := w; p < len(polls) && ctx.Err() == nil; p += nSenders {
					opt := polls[p].options[rand.IntN(len(polls[p].options))]
					sent[p][k].Store(time.Now().UnixNano())
					resp, err := client.Post(polls[p].endpoint, "application/json", strings.NewReader(`{"vote":"`+opt+`"}`))
					if err != nil {
						refused.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						refused.Add(1)
						continue
					}
					acked.Add(1)
					want[p][opt]++ // this sender's poll only
				}
			}
		}()
	}
	senders.Wait()
	res.SendSeconds = time.Since(t0).Seconds()
	res.Acked, res.Refused = acked.Load(), refused.Load()
	if res.Refused > 0 {
		return res, fmt.Errorf("%d of %d votes refused or failed", res.Refused, res.Acked+res.Refused)
	}
	progress("viewers: %d votes sent in %.1fs; waiting until every viewer has its poll's final tally", res.Acked, res.SendSeconds)

	deadline := time.Now().Add(time.Minute)
	for {
		behind := 0
		for _, v := range all {
			if v.total.Load() < int64(o.viewerVotes) {
				behind++
			}
		}
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of %d viewers without their poll's final tally a minute after the last vote", behind, len(all))
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.AllSeconds = time.Since(t0).Seconds()

	// The truth: PostgreSQL's counts (the result server's own query) must
	// be the generator's, and every viewer's last tally must be them.
	if err := waitExact(ctx, check, want, time.Minute); err != nil {
		return res, err
	}
	res.ExactBy = check.by
	var wrong []string
	for i, v := range all {
		v.mu.Lock()
		var t tally.Tally
		err := json.Unmarshal(v.last, &t)
		v.mu.Unlock()
		if err == nil && t.Poll == ids[v.poll] && countsEqual(t.Counts, want[v.poll]) {
			res.Exact++
		} else if len(wrong) < 5 {
			wrong = append(wrong, fmt.Sprintf("viewer %d of poll %s: %v %v, want %v", i, ids[v.poll], t.Counts, err, want[v.poll]))
		}
	}
	latMu.Lock()
	p := percentiles(lats)
	latMu.Unlock()
	res.P50Ms, res.P99Ms, res.MaxMs = p.p50, p.p99, p.max
	res.ResultRSSMB = max(res.ResultRSSMB, stats.rssMB("result"))
	if res.Exact != len(all) {
		return res, fmt.Errorf("%d of %d viewers not on their poll's exact tally: %s", len(all)-res.Exact, len(all), strings.Join(wrong, "; "))
	}
	return res, nil
}

func (r *report) viewers(res viewersResult) {
	rows := [][2]string{
		{"connected", fmt.Sprintf("%d in %.1f s, from %d source addresses", res.Viewers, res.ConnectSecs, res.Sources)},
		{"votes", fmt.Sprintf("%d (%d per poll, each poll's in turn) in %.1f s", res.Acked, res.VotesPerPoll, res.SendSeconds)},
		{"vote → viewer p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", res.P50Ms, res.P99Ms, res.MaxMs)},
		{"every viewer final", fmt.Sprintf("%.1f s after the first vote", res.AllSeconds)},
		{"viewers on the exact tally", fmt.Sprintf("%d of %d (checked against %s)", res.Exact, res.Viewers, res.ExactBy)},
		{"result server RSS, viewers connected", fmt.Sprintf("%.0f MB", res.ResultRSSMB)},
	}
	if res.LimitNote != "" {
		rows = append(rows, [2]string{"NOTE", res.LimitNote})
	}
	r.emit(fmt.Sprintf("viewers: %d polls × %d viewers", res.Polls, res.ViewersPerPoll), rows, res)
}
