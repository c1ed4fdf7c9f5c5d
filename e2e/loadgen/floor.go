package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The floor phase measures what the fan-out cannot beat on this machine:
// one process writes 100 bytes to each of N plain TCP sockets (two writer
// goroutines, no WebSocket, no per-client goroutine), this process reads
// them on N goroutines. It is the fan-out with everything of ours taken
// out.

type floorResult struct {
	Clients   int     `json:"clients"`
	Rounds    int     `json:"rounds"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	LastP50Ms float64 `json:"last_client_p50_ms"`
	LastMaxMs float64 `json:"last_client_max_ms"`
}

// floorServer is the writing side, run as `loadgen -floor-server N`: it
// prints its address, accepts N connections, then writes one 100-byte
// message to every connection for each byte read from stdin.
func floorServer(n int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	msg := make([]byte, 100)
	in := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(in); err != nil {
			return nil
		}
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += 2 {
					_, _ = conns[i].Write(msg)
				}
			}()
		}
		wg.Wait()
	}
}

func floor(ctx context.Context, clients, rounds int, progress func(string, ...any)) (floorResult, error) {
	res := floorResult{Clients: clients, Rounds: rounds}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, self, "-floor-server", fmt.Sprint(clients))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return res, err
	}
	addr = strings.TrimSpace(addr)

	var (
		got  atomic.Int64
		t0   atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		go func() {
			b := make([]byte, 100)
			for {
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				d := time.Duration(time.Now().UnixNano() - t0.Load())
				mu.Lock()
				lats = append(lats, d)
				mu.Unlock()
				got.Add(1)
			}
		}()
	}
	progress("floor: %d plain TCP clients connected", clients)
	time.Sleep(500 * time.Millisecond)
	var last []time.Duration
	for r := 0; r < rounds && ctx.Err() == nil; r++ {
		got.Store(0)
		t0.Store(time.Now().UnixNano())
		if _, err := stdin.Write([]byte{'x'}); err != nil {
			return res, err
		}
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < int64(clients) {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("round %d: %d of %d messages", r, got.Load(), clients)
			}
			time.Sleep(100 * time.Microsecond)
		}
		last = append(last, time.Duration(time.Now().UnixNano()-t0.Load()))
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	p := percentiles(lats)
	mu.Unlock()
	lp := percentiles(last)
	res.P50Ms, res.P99Ms, res.LastP50Ms, res.LastMaxMs = p.p50, p.p99, lp.p50, lp.max
	return res, nil
}

func (r *report) floor(res floorResult) {
	r.emit(fmt.Sprintf("floor: 100 bytes to %d plain TCP sockets", res.Clients), [][2]string{
		{"rounds", fmt.Sprint(res.Rounds)},
		{"write → client p50 / p99", fmt.Sprintf("%.1f / %.1f ms", res.P50Ms, res.P99Ms)},
		{"write → last client p50 / max", fmt.Sprintf("%.1f / %.1f ms", res.LastP50Ms, res.LastMaxMs)},
	}, res)
}
