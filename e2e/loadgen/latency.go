package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

type latencyResult struct {
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	Votes    int     `json:"votes"`
	Achieved float64 `json:"achieved_per_sec"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// arrival is one WebSocket message: when, and the tally's version and total.
type arrival struct {
	at             time.Time
	version, total int64
}

// tallyFields reads version and total from a tally message without a full
// decode: the fan-out phase reads many thousands at once.
func tallyFields(b []byte) (version, total int64) {
	return intAfter(b, `"version":`), intAfter(b, `"total":`)
}

func intAfter(b []byte, key string) int64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return -1
	}
	rest := b[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n
}

func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/ws"
}

// latency sends votes from new voters at a steady rate and times each from
// its acknowledgement to the first WebSocket message whose total includes
// it (the k-th acknowledged vote is in once the total has grown by k).
func latency(ctx context.Context, s *system, rate int, d time.Duration, progress func(string, ...any)) (latencyResult, error) {
	res := latencyResult{Rate: rate}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL(s.result), nil)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	_, first, err := conn.ReadMessage()
	if err != nil {
		return res, err
	}
	_, base := tallyFields(first)
	var mu sync.Mutex
	var arrivals []arrival
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			v, t := tallyFields(b)
			mu.Lock()
			arrivals = append(arrivals, arrival{time.Now(), v, t})
			mu.Unlock()
		}
	}()

	u, _ := url.Parse(s.vote)
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: 64, ReadTimeout: 10 * time.Second}
	endpoint := s.vote + "/api/vote"
	var acks []time.Time
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	n := int(float64(rate) * d.Seconds())
	start := time.Now()
	progress("latency: %d votes at %d/s", n, rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(endpoint)
			req.Header.SetMethod(http.MethodPost)
			req.Header.SetContentType("application/json")
			req.SetBodyString(`{"vote":"a"}`)
			if err := client.Do(req, resp); err == nil && resp.StatusCode() == http.StatusAccepted {
				mu.Lock()
				acks = append(acks, time.Now())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	mu.Lock()
	res.Votes = len(acks)
	mu.Unlock()
	res.Achieved = float64(res.Votes) / res.Seconds
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(arrivals) > 0 && arrivals[len(arrivals)-1].total >= base+int64(res.Votes)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the WebSocket never showed all %d votes", res.Votes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var lats []time.Duration
	j := 0
	for k, at := range acks {
		for j < len(arrivals) && arrivals[j].total < base+int64(k+1) {
			j++
		}
		if j == len(arrivals) {
			break
		}
		lats = append(lats, max(0, arrivals[j].at.Sub(at)))
	}
	p := percentiles(lats)
	res.P50Ms, res.P99Ms, res.MaxMs = p.p50, p.p99, p.max
	return res, nil
}

func (r *report) latency(res latencyResult) {
	r.emit(fmt.Sprintf("latency at %d votes/s", res.Rate), [][2]string{
		{"votes", fmt.Sprintf("%d in %.1f s (%.0f/s)", res.Votes, res.Seconds, res.Achieved)},
		{"acknowledgement → WebSocket p50", fmt.Sprintf("%.2f ms", res.P50Ms)},
		{"acknowledgement → WebSocket p99", fmt.Sprintf("%.2f ms", res.P99Ms)},
		{"acknowledgement → WebSocket max", fmt.Sprintf("%.2f ms", res.MaxMs)},
	}, res)
}
