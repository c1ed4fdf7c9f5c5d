package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metricsClient asks for /metrics uncompressed: gzip would cost the
// servers CPU the benchmark measures (the result server's, every 500 ms,
// during the fan-out's rounds).
var metricsClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// metricValue reads one unlabelled series from a server's /metrics.
func metricValue(base, name string) (float64, error) {
	if base == "" {
		return 0, fmt.Errorf("no URL")
	}
	resp, err := metricsClient.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", base, name)
}

type procFigures struct {
	Process    string  `json:"process"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
}

// procStats samples the CPU time and memory of each of our processes from
// their /metrics (process_cpu_seconds_total, process_resident_memory_bytes),
// so it works for a system started elsewhere too.
type procStats struct {
	servers map[string]string
	mu      sync.Mutex
	cpu0    map[string]float64
	cpu     map[string]float64
	peak    map[string]float64
	cancel  context.CancelFunc
	done    chan struct{}
}

func newProcStats(s *system) *procStats {
	servers := map[string]string{"vote": s.vote, "result": s.result}
	if s.worker != "" {
		servers["worker"] = s.worker
	}
	return &procStats{servers: servers, cpu0: map[string]float64{}, cpu: map[string]float64{}, peak: map[string]float64{}}
}

func (p *procStats) sample() {
	for name, base := range p.servers {
		cpu, err1 := metricValue(base, "process_cpu_seconds_total")
		rss, err2 := metricValue(base, "process_resident_memory_bytes")
		p.mu.Lock()
		if err1 == nil {
			if _, ok := p.cpu0[name]; !ok {
				p.cpu0[name] = cpu
			}
			p.cpu[name] = cpu
		}
		if err2 == nil {
			p.peak[name] = max(p.peak[name], rss)
		}
		p.mu.Unlock()
	}
}

// rssMB is the latest peak of one process, in MB.
func (p *procStats) rssMB(name string) float64 {
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak[name] / 1e6
}

func (p *procStats) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	p.sample()
	go func() {
		defer close(p.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.sample()
			}
		}
	}()
}

func (p *procStats) stop() []procFigures {
	p.cancel()
	<-p.done
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []procFigures
	for _, name := range []string{"vote", "worker", "result"} {
		if _, ok := p.servers[name]; !ok {
			continue
		}
		out = append(out, procFigures{Process: name, CPUSeconds: p.cpu[name] - p.cpu0[name], PeakRSSMB: p.peak[name] / 1e6})
	}
	return out
}

func (r *report) processes(figs []procFigures) {
	var rows [][2]string
	for _, f := range figs {
		rows = append(rows, [2]string{f.Process, fmt.Sprintf("%.1f CPU seconds, peak RSS %.0f MB", f.CPUSeconds, f.PeakRSSMB)})
	}
	r.emit("processes", rows, figs)
}
