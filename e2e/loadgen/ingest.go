package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

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
	// The default poll of version 1's routes, voted on at /api/vote.
	options := base.Options()
	polls := []benchPoll{{id: base.Poll, options: options, endpoint: s.vote + "/api/vote"}}
	st, start, err := sendLoad(ctx, s, o, polls, []map[string]int64{base.Counts}, "ingest", progress)
	if err != nil {
		return res, err
	}
	res.Seconds = st.sent.Seconds()
	res.Acked, res.Refused, res.NewVoters, res.Changes = st.acked, st.refused, st.newVoters, st.changes
	res.AckedPerSec = float64(res.Acked) / st.sent.Seconds()
	res.AckP50Ms, res.AckP99Ms = st.ackP50Ms, st.ackP99Ms
	res.BacklogMax, res.BacklogAtEnd = st.backlogMax, st.backlogAtEnd

	want := st.want[0]
	progress("ingest: sent for %.1fs; waiting for the result server to show %v", st.sent.Seconds(), want)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		t, err := getTally(s.result)
		if err == nil && sameCounts(t.Counts, want) {
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

// sameCounts reports whether got has exactly want's counts.
func sameCounts(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for o, n := range want {
		if got[o] != n {
			return false
		}
	}
	return true
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
