package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type fanoutResult struct {
	Clients     int     `json:"clients"`
	Connected   int     `json:"connected"`
	Sources     int     `json:"source_addresses"`
	ConnectSecs float64 `json:"connect_seconds"`
	Rounds      int     `json:"rounds"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	LastP50Ms   float64 `json:"last_client_p50_ms"`
	LastMaxMs   float64 `json:"last_client_max_ms"`
	ResultRSSMB float64 `json:"result_rss_mb"`
	// Sent is the result server's count of tally messages written over the
	// phase (result_websocket_messages_sent_total): one per client per
	// round and the first tally, when no client skipped a version.
	Sent float64 `json:"messages_sent"`
	// CPUMsPerRound is the result server's CPU time over the rounds (its
	// process_cpu_seconds_total) divided by the rounds: what one tally to
	// every client costs it.
	CPUMsPerRound float64 `json:"result_cpu_ms_per_round"`
	// The floor of the same run and size, its rounds taken in turn with
	// these (zero when the floor phase did not run), and the p99 over the
	// floor's p99.
	FloorP50Ms float64 `json:"floor_p50_ms,omitempty"`
	FloorP99Ms float64 `json:"floor_p99_ms,omitempty"`
	RatioP99   float64 `json:"p99_over_floor,omitempty"`
}

// fanoutAndFloor runs the fan-out phase, the floor phase or both. Both
// keep their clients connected together and take their rounds in turn
// (a fan-out round, a floor round, …), so that whatever else the machine
// does at that moment weighs on both alike.
func fanoutAndFloor(ctx context.Context, s *system, o options, progress func(string, ...any), stats *procStats) (*fanoutResult, *floorResult, error) {
	var (
		fan *fanoutResult
		fl  *floorResult
		ws  *wsFleet
		tcp *floorFleet
		err error
	)
	sent0, _ := metricValue(s.result, "result_websocket_messages_sent_total")
	if o.phases["fanout"] {
		fan = &fanoutResult{Clients: o.clients, Rounds: o.rounds, Sources: sources(o.clients)}
		start := time.Now()
		ws, err = connectWS(ctx, wsURL(s.result), o.clients, progress)
		if ws != nil {
			defer ws.close()
			fan.Connected = len(ws.conns)
		}
		fan.ConnectSecs = time.Since(start).Seconds()
		if err != nil {
			return fan, nil, fmt.Errorf("fan-out: %w", err)
		}
		progress("fan-out: %d clients connected in %.1fs from %d source addresses", fan.Connected, fan.ConnectSecs, fan.Sources)
		time.Sleep(500 * time.Millisecond) // the initial tally reaches everyone
		fan.ResultRSSMB = stats.rssMB("result")
	}
	if o.phases["floor"] {
		fl = &floorResult{Clients: o.clients, Rounds: o.rounds}
		if tcp, err = connectFloor(ctx, o.clients, progress); tcp != nil {
			defer tcp.close()
		}
		if err != nil {
			return fan, fl, fmt.Errorf("floor: %w", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var wsLast, floorLast []time.Duration
	cpu0, _ := metricValue(s.result, "process_cpu_seconds_total")
	var floorCPU0 float64
	if tcp != nil {
		floorCPU0 = cpuSeconds(tcp.server.Process.Pid)
	}
	for r := 1; r <= o.rounds && ctx.Err() == nil; r++ {
		if ws != nil {
			d, err := ws.round(s, r)
			if err != nil {
				return fan, fl, fmt.Errorf("fan-out: %w", err)
			}
			wsLast = append(wsLast, d)
			time.Sleep(200 * time.Millisecond)
		}
		if tcp != nil {
			d, err := tcp.round(r)
			if err != nil {
				return fan, fl, fmt.Errorf("floor: %w", err)
			}
			floorLast = append(floorLast, d)
			time.Sleep(200 * time.Millisecond)
		}
		if r%5 == 0 {
			progress("fan-out: round %d of %d", r, o.rounds)
		}
	}
	if err := ctx.Err(); err != nil {
		return fan, fl, err
	}
	cpu1, _ := metricValue(s.result, "process_cpu_seconds_total")
	if fl != nil {
		fl.CPUMsPerRound = 1000 * (cpuSeconds(tcp.server.Process.Pid) - floorCPU0) / float64(o.rounds)
		p, lp := tcp.percentiles(), percentiles(floorLast)
		fl.P50Ms, fl.P99Ms, fl.LastP50Ms, fl.LastMaxMs = p.p50, p.p99, lp.p50, lp.max
	}
	if fan != nil {
		p, lp := ws.percentiles(), percentiles(wsLast)
		fan.P50Ms, fan.P99Ms, fan.MaxMs = p.p50, p.p99, p.max
		fan.LastP50Ms, fan.LastMaxMs = lp.p50, lp.max
		fan.ResultRSSMB = max(fan.ResultRSSMB, stats.rssMB("result"))
		fan.CPUMsPerRound = 1000 * (cpu1 - cpu0) / float64(o.rounds)
		if sent, err := metricValue(s.result, "result_websocket_messages_sent_total"); err == nil {
			fan.Sent = sent - sent0
		}
		if fl != nil && fl.P99Ms > 0 {
			fan.FloorP50Ms, fan.FloorP99Ms, fan.RatioP99 = fl.P50Ms, fl.P99Ms, fan.P99Ms/fl.P99Ms
		}
	}
	return fan, fl, nil
}

// wsFleet is the fan-out's clients, each with a reader that times the
// round's tally.
type wsFleet struct {
	current atomic.Int32
	target  atomic.Int64
	t0      atomic.Int64
	reached atomic.Int64
	mu      sync.Mutex
	lats    []time.Duration
	conns   []*wsClient
	readers sync.WaitGroup
}

// connectWS opens n WebSockets to url, 100 handshakes at a time, from as
// many source addresses as n needs.
func connectWS(ctx context.Context, url string, n int, progress func(string, ...any)) (*wsFleet, error) {
	f := &wsFleet{conns: make([]*wsClient, 0, n)}
	sem := make(chan struct{}, 100)
	var (
		dials   sync.WaitGroup
		dialErr atomic.Value
		failed  atomic.Int64
	)
	for i := 0; i < n && ctx.Err() == nil && failed.Load() == 0; i++ {
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			c, err := dialWS(ctx, sourceDialer(i), url)
			if err != nil {
				dialErr.Store(err.Error())
				failed.Add(1)
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.readers.Add(1)
			go f.read(c)
		}()
		if i%5000 == 4999 {
			progress("fan-out: %d clients dialled", i+1)
		}
	}
	dials.Wait()
	if len(f.conns) < n {
		e, _ := dialErr.Load().(string)
		return f, fmt.Errorf("only %d of %d clients connected (%s)", len(f.conns), n, e)
	}
	return f, ctx.Err()
}

// read times each round's tally at one client.
func (f *wsFleet) read(c *wsClient) {
	defer f.readers.Done()
	var myRound int32
	// One small buffer per client: the clients share the machine with the
	// server they measure.
	buf := make([]byte, 256)
	for {
		b, err := c.next(buf)
		if err != nil {
			return
		}
		r := f.current.Load()
		if r > myRound && intAfter(b, `"version":`) >= f.target.Load() {
			myRound = r
			d := time.Duration(time.Now().UnixNano() - f.t0.Load())
			f.mu.Lock()
			f.lats = append(f.lats, d)
			f.mu.Unlock()
			f.reached.Add(1)
		}
	}
}

// round sends one vote and waits until every client has a tally that
// has it; it returns when the last one did, from sending the vote.
func (f *wsFleet) round(s *system, r int) (time.Duration, error) {
	cur, err := getTally(s.result)
	if err != nil {
		return 0, err
	}
	f.target.Store(cur.Version + 1)
	f.reached.Store(0)
	f.t0.Store(time.Now().UnixNano())
	f.current.Store(int32(r))
	resp, err := http.Post(s.vote+"/api/vote", "application/json", strings.NewReader(`{"vote":"b"}`))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for n := int64(len(f.conns)); f.reached.Load() < n; {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("round %d: %d of %d clients got the tally within 10s", r, f.reached.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Duration(time.Now().UnixNano() - f.t0.Load()), nil
}

func (f *wsFleet) percentiles() pct {
	f.mu.Lock()
	defer f.mu.Unlock()
	return percentiles(append([]time.Duration(nil), f.lats...))
}

func (f *wsFleet) close() {
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.readers.Wait()
}

func (r *report) fanout(res fanoutResult) {
	rows := [][2]string{
		{"connected", fmt.Sprintf("%d in %.1f s, from %d source addresses", res.Connected, res.ConnectSecs, res.Sources)},
		{"votes timed", fmt.Sprint(res.Rounds)},
		{"vote → client p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", res.P50Ms, res.P99Ms, res.MaxMs)},
		{"vote → last client p50 / max", fmt.Sprintf("%.1f / %.1f ms", res.LastP50Ms, res.LastMaxMs)},
		{"result server RSS, clients connected", fmt.Sprintf("%.0f MB", res.ResultRSSMB)},
		{"tally messages written", fmt.Sprintf("%.0f", res.Sent)},
		{"result server CPU per round", fmt.Sprintf("%.0f ms", res.CPUMsPerRound)},
	}
	if res.FloorP99Ms > 0 {
		rows = append(rows,
			[2]string{"floor, same size, rounds in turn", fmt.Sprintf("p50 %.1f / p99 %.1f ms", res.FloorP50Ms, res.FloorP99Ms)},
			[2]string{"p99 / floor p99", fmt.Sprintf("%.2f×", res.RatioP99)})
	}
	r.emit(fmt.Sprintf("fan-out to %d WebSocket clients", res.Clients), rows, res)
}
