package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The floor phase measures what the fan-out cannot beat on this machine:
// one process writes 100 bytes to each of N plain TCP sockets (as many
// writer goroutines as the result server's hub has, no WebSocket, no
// per-client goroutine), a third reads them on N goroutines, from the
// same source addresses as the fan-out's clients. It is the fan-out with
// everything of ours taken out.

type floorResult struct {
	Clients   int     `json:"clients"`
	Rounds    int     `json:"rounds"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	LastP50Ms float64 `json:"last_client_p50_ms"`
	LastMaxMs float64 `json:"last_client_max_ms"`
	// CPUMsPerRound is the floor's server's CPU time per round (from
	// /proc), beside the result server's.
	CPUMsPerRound float64 `json:"server_cpu_ms_per_round"`
}

// cpuSeconds is the CPU time process pid used so far (user and system,
// from /proc/PID/stat; 0 when unreadable).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the 3rd field, utime the 14th, stime the 15th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ, 100 on Linux
}

// floorWriters is how many goroutines write in the floor's server: as
// many as the result server's hub has writers (one per core, two at
// least).
func floorWriters() int { return max(2, runtime.GOMAXPROCS(0)) }

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
	writers := floorWriters()
	for {
		if _, err := os.Stdin.Read(in); err != nil {
			return nil
		}
		var wg sync.WaitGroup
		for g := 0; g < writers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += writers {
					_, _ = conns[i].Write(msg)
				}
			}()
		}
		wg.Wait()
	}
}

// floorReaders is the reading side, run as `loadgen -floor-readers N
// -floor-addr ADDR` (a process of its own: a process may hold 20,000 open
// files on some machines, and the fan-out's clients are in the parent). It
// connects N readers to ADDR, then for each line "round T0" on stdin
// (T0 in Unix nanoseconds, from the parent) answers "ok", and "done T"
// once every reader has a message (T: when the last one did). At the end
// of stdin it prints the percentiles of all its readers' times from T0,
// "p50 p99 max" in milliseconds.
func floorReaders(addr string, n int) error {
	var (
		got  atomic.Int64
		t0   atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := sourceDialer(i).Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("client %d of %d: %w", i+1, n, err)
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
	fmt.Println("connected")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var at int64
		if _, err := fmt.Sscanf(in.Text(), "round %d", &at); err != nil {
			return fmt.Errorf("floor readers: %q: %w", in.Text(), err)
		}
		got.Store(0)
		t0.Store(at)
		fmt.Println("ok")
		for got.Load() < int64(n) {
			time.Sleep(100 * time.Microsecond)
		}
		fmt.Printf("done %d\n", time.Now().UnixNano())
	}
	mu.Lock()
	p := percentiles(lats)
	mu.Unlock()
	fmt.Printf("%f %f %f\n", p.p50, p.p99, p.max)
	return nil
}

// floorFleet is the floor's two processes: the server that writes and
// the readers.
type floorFleet struct {
	n       int
	server  *exec.Cmd
	trigger io.WriteCloser // a byte: the server writes to every socket
	readers *exec.Cmd
	orders  io.WriteCloser // the readers' stdin
	answers chan string    // the readers' stdout, line by line
	pct     pct
}

// connectFloor starts the floor's server and its n readers.
func connectFloor(ctx context.Context, n int, progress func(string, ...any)) (*floorFleet, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &floorFleet{n: n, answers: make(chan string, 4)}
	f.server = exec.CommandContext(ctx, self, "-floor-server", fmt.Sprint(n))
	if f.trigger, err = f.server.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := f.server.StdoutPipe()
	if err != nil {
		return nil, err
	}
	f.server.Stderr = os.Stderr
	if err := f.server.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return f, err
	}
	f.readers = exec.CommandContext(ctx, self, "-floor-readers", fmt.Sprint(n), "-floor-addr", strings.TrimSpace(addr))
	if f.orders, err = f.readers.StdinPipe(); err != nil {
		return f, err
	}
	rout, err := f.readers.StdoutPipe()
	if err != nil {
		return f, err
	}
	f.readers.Stderr = os.Stderr
	if err := f.readers.Start(); err != nil {
		f.readers = nil
		return f, err
	}
	go func() {
		sc := bufio.NewScanner(rout)
		for sc.Scan() {
			f.answers <- sc.Text()
		}
		close(f.answers)
	}()
	if line, err := f.answer(time.Minute); err != nil || line != "connected" {
		return f, fmt.Errorf("floor readers: %q %v", line, err)
	}
	progress("floor: %d plain TCP clients connected from %d source addresses", n, sources(n))
	return f, nil
}

// answer is the readers' next line, within timeout.
func (f *floorFleet) answer(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-f.answers:
		if !ok {
			return "", errors.New("the floor readers ended")
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer from the floor readers within %v", timeout)
	}
}

// round has the server write to every socket once and waits until every
// reader has the message; it returns when the last one did.
func (f *floorFleet) round(r int) (time.Duration, error) {
	t0 := time.Now().UnixNano()
	if _, err := fmt.Fprintf(f.orders, "round %d\n", t0); err != nil {
		return 0, err
	}
	if line, err := f.answer(10 * time.Second); err != nil || line != "ok" {
		return 0, fmt.Errorf("round %d: %q %v", r, line, err)
	}
	if _, err := f.trigger.Write([]byte{'x'}); err != nil {
		return 0, err
	}
	line, err := f.answer(10 * time.Second)
	var at int64
	if err == nil {
		_, err = fmt.Sscanf(line, "done %d", &at)
	}
	if err != nil {
		return 0, fmt.Errorf("round %d: not every reader had the message: %w", r, err)
	}
	return time.Duration(at - t0), nil
}

// percentiles ends the readers and returns their figures.
func (f *floorFleet) percentiles() pct {
	f.orders.Close()
	if line, err := f.answer(10 * time.Second); err == nil {
		_, _ = fmt.Sscanf(line, "%f %f %f", &f.pct.p50, &f.pct.p99, &f.pct.max)
	}
	return f.pct
}

func (f *floorFleet) close() {
	for _, w := range []io.Closer{f.orders, f.trigger} {
		if w != nil {
			w.Close()
		}
	}
	for _, cmd := range []*exec.Cmd{f.readers, f.server} {
		if cmd == nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// Still waiting for its connections, not reading its stdin.
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

func (r *report) floor(res floorResult) {
	r.emit(fmt.Sprintf("floor: 100 bytes to %d plain TCP sockets", res.Clients), [][2]string{
		{"rounds", fmt.Sprint(res.Rounds)},
		{"write → client p50 / p99", fmt.Sprintf("%.1f / %.1f ms", res.P50Ms, res.P99Ms)},
		{"write → last client p50 / max", fmt.Sprintf("%.1f / %.1f ms", res.LastP50Ms, res.LastMaxMs)},
		{"floor server CPU per round", fmt.Sprintf("%.0f ms", res.CPUMsPerRound)},
	}, res)
}
