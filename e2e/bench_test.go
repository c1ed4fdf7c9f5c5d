package e2e

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkVoteToWebSocket measures, one vote at a time, the time from
// sending a vote to the result server's WebSocket message that counts it.
func BenchmarkVoteToWebSocket(b *testing.B) {
	e := newEnv(b)
	result := e.start("result")
	e.start("worker")
	vote := e.start("vote")
	result.waitReady()
	ws := dialSocket(b, result)
	v := newVoter(b)
	var lat []time.Duration
	opt := "a"
	for b.Loop() {
		last, _ := ws.last()
		start := time.Now()
		if code := v.vote(b, vote, opt); code != http.StatusAccepted {
			b.Fatalf("vote answered %d", code)
		}
		for {
			select {
			case <-ws.news:
			case <-time.After(5 * time.Second):
				b.Fatal("no WebSocket message within 5s")
			}
			if cur, _ := ws.last(); cur.Version > last.Version {
				break
			}
		}
		lat = append(lat, time.Since(start))
		opt = map[string]string{"a": "b", "b": "a"}[opt]
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkIngest posts votes from parallel voters (keep-alive connections)
// and reports acknowledged votes per second.
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b)
	e.start("worker")
	vote := e.start("vote")
	b.SetParallelism(16)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		for pb.Next() {
			resp, err := client.Post(vote.url("/api/vote"), "application/json", strings.NewReader(`{"vote":"a"}`))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("vote answered %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "votes/s")
}
