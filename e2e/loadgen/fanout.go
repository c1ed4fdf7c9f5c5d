package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

type fanoutResult struct {
	Clients     int     `json:"clients"`
	Connected   int     `json:"connected"`
	ConnectSecs float64 `json:"connect_seconds"`
	Rounds      int     `json:"rounds"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	LastP50Ms   float64 `json:"last_client_p50_ms"`
	LastMaxMs   float64 `json:"last_client_max_ms"`
	ResultRSSMB float64 `json:"result_rss_mb"`
}

// fanout connects clients WebSockets to the result server, then times
// rounds votes: from sending the vote to each client's receipt of the
// tally that has it, and to the last client's.
func fanout(ctx context.Context, s *system, clients, rounds int, progress func(string, ...any), stats *procStats) (fanoutResult, error) {
	res := fanoutResult{Clients: clients, Rounds: rounds}
	var (
		round   atomic.Int32
		target  atomic.Int64
		t0      atomic.Int64
		reached atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		conns   []*websocket.Conn
	)
	dialer := &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}
	url := wsURL(s.result)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	defer func() {
		cancel()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		readers.Wait()
	}()

	start := time.Now()
	var connected atomic.Int64
	sem := make(chan struct{}, 100)
	var dials sync.WaitGroup
	var dialErr atomic.Value
	for i := 0; i < clients && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			c, _, err := dialer.DialContext(ctx, url, nil)
			if err != nil {
				dialErr.Store(err.Error())
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			connected.Add(1)
			readers.Add(1)
			go func() {
				defer readers.Done()
				var myRound int32
				// One small buffer per client, reused: 10,000 readers share
				// the machine with the server they measure.
				buf := make([]byte, 256)
				for {
					_, rd, err := c.NextReader()
					if err != nil {
						return
					}
					n, err := io.ReadFull(rd, buf)
					if err != nil && err != io.ErrUnexpectedEOF {
						return
					}
					b := buf[:n]
					r := round.Load()
					if r > myRound && intAfter(b, `"version":`) >= target.Load() {
						myRound = r
						d := time.Duration(time.Now().UnixNano() - t0.Load())
						mu.Lock()
						lats = append(lats, d)
						mu.Unlock()
						reached.Add(1)
					}
				}
			}()
		}()
		if i%2000 == 1999 {
			progress("fan-out: %d clients connected", connected.Load())
		}
	}
	dials.Wait()
	res.Connected = int(connected.Load())
	res.ConnectSecs = time.Since(start).Seconds()
	if res.Connected < clients {
		e, _ := dialErr.Load().(string)
		return res, fmt.Errorf("only %d of %d clients connected (%s)", res.Connected, clients, e)
	}
	progress("fan-out: %d clients connected in %.1fs", res.Connected, res.ConnectSecs)
	time.Sleep(500 * time.Millisecond) // the initial tally reaches everyone
	res.ResultRSSMB = stats.rssMB("result")

	var lastClient []time.Duration
	for r := 1; r <= rounds && ctx.Err() == nil; r++ {
		cur, err := getTally(s.result)
		if err != nil {
			return res, err
		}
		target.Store(cur.Version + 1)
		reached.Store(0)
		t0.Store(time.Now().UnixNano())
		round.Store(int32(r))
		resp, err := http.Post(s.vote+"/api/vote", "application/json", strings.NewReader(`{"vote":"b"}`))
		if err != nil {
			return res, err
		}
		resp.Body.Close()
		deadline := time.Now().Add(10 * time.Second)
		for reached.Load() < int64(res.Connected) {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("round %d: %d of %d clients got the tally within 10s", r, reached.Load(), res.Connected)
			}
			time.Sleep(time.Millisecond)
		}
		lastClient = append(lastClient, time.Duration(time.Now().UnixNano()-t0.Load()))
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	p := percentiles(append([]time.Duration(nil), lats...))
	mu.Unlock()
	res.P50Ms, res.P99Ms, res.MaxMs = p.p50, p.p99, p.max
	lp := percentiles(lastClient)
	res.LastP50Ms, res.LastMaxMs = lp.p50, lp.max
	res.ResultRSSMB = max(res.ResultRSSMB, stats.rssMB("result"))
	return res, nil
}

func (r *report) fanout(res fanoutResult) {
	r.emit(fmt.Sprintf("fan-out to %d WebSocket clients", res.Clients), [][2]string{
		{"connected", fmt.Sprintf("%d in %.1f s", res.Connected, res.ConnectSecs)},
		{"votes timed", fmt.Sprint(res.Rounds)},
		{"vote → client p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", res.P50Ms, res.P99Ms, res.MaxMs)},
		{"vote → last client p50 / max", fmt.Sprintf("%.1f / %.1f ms", res.LastP50Ms, res.LastMaxMs)},
		{"result server RSS, clients connected", fmt.Sprintf("%.0f MB", res.ResultRSSMB)},
	}, res)
}
