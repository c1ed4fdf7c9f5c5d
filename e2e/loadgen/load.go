package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// loadStats is what one burst of votes did, as the generator saw it.
type loadStats struct {
	sent                               time.Duration
	acked, refused, newVoters, changes int64
	ackP50Ms, ackP99Ms                 float64
	backlogMax, backlogAtEnd           float64
	// want is each poll's counts the tallies must reach: base plus every
	// ballot's last acknowledged option.
	want []map[string]int64
}

// sendLoad votes over o.conns keep-alive connections for o.duration: half
// from new voters in a poll picked at random, half from a voter already
// seen changing their mind in the same poll. It reports progress every
// second under label. base holds each poll's counts before the load.
func sendLoad(ctx context.Context, s *system, o options, polls []benchPoll, base []map[string]int64,
	label string, progress func(string, ...any)) (loadStats, time.Time, error) {
	var st loadStats
	u, err := url.Parse(s.vote)
	if err != nil {
		return st, time.Time{}, err
	}
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: o.conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	var acked, refused, newVoters, changes atomic.Int64
	perConn := make([][]ballotState, o.conns)
	lat := make([][]time.Duration, o.conns)
	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()

	start := time.Now()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-tick.C:
				n := acked.Load()
				bl, _ := metricValue(s.worker, "worker_stream_length")
				st.backlogMax = max(st.backlogMax, bl)
				progress("%s: %2.0fs  %8d acknowledged  %7.0f/s  backlog %.0f", label, time.Since(start).Seconds(), n,
					float64(n)/time.Since(start).Seconds(), bl)
			}
		}
	}()

	var wg sync.WaitGroup
	for c := 0; c < o.conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			cookie := fasthttp.AcquireCookie()
			defer fasthttp.ReleaseCookie(cookie)
			ballots := make([]ballotState, 0, 1024)
			for lctx.Err() == nil {
				idx := -1
				var b ballotState
				if len(ballots) > 0 && rand.IntN(2) == 0 {
					idx = rand.IntN(len(ballots))
					b = ballots[idx]
					b.opt = otherOption(polls[b.poll].options, b.opt) // a change of mind
				} else {
					b.poll = rand.IntN(len(polls))
					b.opt = polls[b.poll].options[rand.IntN(len(polls[b.poll].options))]
				}
				req.Reset()
				req.SetRequestURI(polls[b.poll].endpoint)
				req.Header.SetMethod(http.MethodPost)
				req.Header.SetContentType("application/json")
				if idx >= 0 {
					req.Header.SetCookie("voter_id", b.cookie)
				}
				req.SetBodyString(`{"vote":"` + b.opt + `"}`)
				t0 := time.Now()
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				acked.Add(1)
				if idx >= 0 {
					ballots[idx] = b
					changes.Add(1)
					continue
				}
				b.voter = voterIDFrom(resp.Body())
				cookie.SetKey("voter_id")
				if b.voter == "" || !resp.Header.Cookie(cookie) {
					refused.Add(1)
					continue
				}
				b.cookie = string(cookie.Value())
				ballots = append(ballots, b)
				newVoters.Add(1)
			}
			perConn[c] = ballots
		}()
	}
	wg.Wait()
	st.sent = time.Since(start)
	<-watched
	st.acked, st.refused, st.newVoters, st.changes = acked.Load(), refused.Load(), newVoters.Load(), changes.Load()
	st.backlogAtEnd, _ = metricValue(s.worker, "worker_stream_length")
	st.backlogMax = max(st.backlogMax, st.backlogAtEnd)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p := percentiles(all)
	st.ackP50Ms, st.ackP99Ms = p.p50, p.p99

	st.want = make([]map[string]int64, len(polls))
	for i, p := range polls {
		st.want[i] = make(map[string]int64, len(p.options))
		for _, opt := range p.options {
			st.want[i][opt] = base[i][opt]
		}
	}
	for _, bs := range perConn {
		for _, b := range bs {
			st.want[b.poll][b.opt]++
		}
	}
	return st, start, ctx.Err()
}
