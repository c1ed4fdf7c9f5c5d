package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"livevote/shared/tally"
)

type ingestResult struct {
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
	BacklogMax     float64 `json:"backlog_max"`
	BacklogAtEnd   float64 `json:"backlog_at_end"`
}

// ingest sends votes over conns keep-alive connections for the duration:
// half from new voters, half from returning voters changing their minds.
// Then it waits until the result server's tally equals its own count.
func ingest(ctx context.Context, s *system, o options, progress func(string, ...any)) (ingestResult, error) {
	res := ingestResult{Conns: o.conns}
	base, err := getTally(s.result)
	if err != nil {
		return res, err
	}
	u, err := url.Parse(s.vote)
	if err != nil {
		return res, err
	}
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: o.conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	endpoint := s.vote + "/api/vote"

	var acked, refused, newVoters, changes atomic.Int64
	type voterState struct {
		id  string
		opt byte
	}
	perConn := make([][]voterState, o.conns)
	lat := make([][]time.Duration, o.conns)

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var backlogMax float64
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n := acked.Load()
				bl, _ := metricValue(s.worker, "worker_stream_length")
				backlogMax = max(backlogMax, bl)
				progress("ingest: %2.0fs  %8d acknowledged  %7.0f/s  backlog %.0f", time.Since(start).Seconds(), n,
					float64(n)/time.Since(start).Seconds(), bl)
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			voters := make([]voterState, 0, 1024)
			for ctx.Err() == nil {
				req.Reset()
				req.SetRequestURI(endpoint)
				req.Header.SetMethod(http.MethodPost)
				req.Header.SetContentType("application/json")
				idx := -1
				var opt byte = 'a' + byte(rand.IntN(2))
				if len(voters) > 0 && rand.IntN(2) == 0 {
					idx = rand.IntN(len(voters))
					opt = 'a' + 'b' - voters[idx].opt // a change of mind
					req.Header.SetCookie("voter_id", voters[idx].id)
				}
				req.SetBodyString(`{"vote":"` + string(opt) + `"}`)
				t0 := time.Now()
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				acked.Add(1)
				if idx >= 0 {
					voters[idx].opt = opt
					changes.Add(1)
					continue
				}
				id := voterIDFrom(resp.Body())
				if id == "" {
					refused.Add(1)
					continue
				}
				voters = append(voters, voterState{id: id, opt: opt})
				newVoters.Add(1)
			}
			perConn[c] = voters
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	<-watched
	res.Seconds = sent.Seconds()
	res.Acked, res.Refused, res.NewVoters, res.Changes = acked.Load(), refused.Load(), newVoters.Load(), changes.Load()
	res.AckedPerSec = float64(res.Acked) / sent.Seconds()
	res.BacklogAtEnd, _ = metricValue(s.worker, "worker_stream_length")
	res.BacklogMax = max(backlogMax, res.BacklogAtEnd)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p := percentiles(all)
	res.AckP50Ms, res.AckP99Ms = p.p50, p.p99

	want := map[string]int64{"a": base.Counts["a"], "b": base.Counts["b"]}
	for _, vs := range perConn {
		for _, v := range vs {
			want[string(v.opt)]++
		}
	}
	progress("ingest: sent for %.1fs; waiting for the result server to show %v", sent.Seconds(), want)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		t, err := getTally(s.result)
		if err == nil && t.Counts["a"] == want["a"] && t.Counts["b"] == want["b"] {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("result server shows %v, want %v, 2 minutes after the load", t.Counts, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	drained := time.Since(start)
	res.DrainedSeconds = drained.Seconds()
	res.EndToEndPerSec = float64(res.Acked) / drained.Seconds()
	return res, nil
}

func voterIDFrom(body []byte) string {
	const key = `"voter_id":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func getTally(base string) (tally.Tally, error) {
	var t tally.Tally
	resp, err := http.Get(base + "/api/tally")
	if err != nil {
		return t, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&t)
	return t, err
}

type pct struct{ p50, p99, max float64 }

func percentiles(d []time.Duration) pct {
	if len(d) == 0 {
		return pct{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	f := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return pct{p50: f(d[len(d)/2]), p99: f(d[min(len(d)-1, len(d)*99/100)]), max: f(d[len(d)-1])}
}

func (r *report) ingest(res ingestResult) {
	r.emit("ingest", [][2]string{
		{"connections", fmt.Sprint(res.Conns)},
		{"sent for", fmt.Sprintf("%.1f s", res.Seconds)},
		{"acknowledged", fmt.Sprintf("%d (%d new voters, %d changes)", res.Acked, res.NewVoters, res.Changes)},
		{"refused or failed", fmt.Sprint(res.Refused)},
		{"ingest, acknowledged", fmt.Sprintf("%.0f votes/s", res.AckedPerSec)},
		{"acknowledgement p50 / p99", fmt.Sprintf("%.2f / %.2f ms", res.AckP50Ms, res.AckP99Ms)},
		{"end to end, drained", fmt.Sprintf("%.0f votes/s (tally equal %.1f s after the first vote)", res.EndToEndPerSec, res.DrainedSeconds)},
		{"backlog max / when sending stopped", fmt.Sprintf("%.0f / %.0f entries", res.BacklogMax, res.BacklogAtEnd)},
	}, res)
}
