package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"livevote/shared/tally"
)

// viewersResult is the viewers phase: many polls, each watched by many
// WebSocket clients, votes on every poll; every viewer must end on its
// poll's exact tally.
type viewersResult struct {
	Polls          int `json:"polls"`
	ViewersPerPoll int `json:"viewers_per_poll"`
	Viewers        int `json:"viewers"`
	// ResultServers and ClientProcesses are how many of each held the
	// viewers: one each unless a process may not hold them all (the
	// open-file limit); a poll's viewers are all on one result server.
	ResultServers   int     `json:"result_servers"`
	ClientProcesses int     `json:"client_processes"`
	ConnectSecs     float64 `json:"connect_seconds"`
	VotesPerPoll    int     `json:"votes_per_poll"`
	Acked           int64   `json:"acked"`
	Refused         int64   `json:"refused"`
	SendSeconds     float64 `json:"send_seconds"`
	// From sending a vote to each of its poll's viewers' first tally that
	// has it.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// AllSeconds is when, from the first vote, every viewer held its
	// poll's final tally.
	AllSeconds float64 `json:"all_viewers_final_seconds"`
	// Exact counts the viewers whose last tally has exactly the counts
	// PostgreSQL (or the result API) holds for their poll, which are the
	// generator's own.
	Exact   int    `json:"viewers_exact"`
	ExactBy string `json:"exact_by"`
	// ResultRSSMB is the largest result server's RSS with the viewers
	// connected.
	ResultRSSMB float64 `json:"result_rss_mb"`
}

// viewerJob is what a viewer worker process is given: one WebSocket URL
// per viewer, and how many votes each poll gets.
type viewerJob struct {
	URLs  []string `json:"urls"`
	Votes int      `json:"votes"`
}

// viewerSeen is what one viewer saw: its last tally (the highest
// version), and Recv[k], when (Unix ns) it first held a tally with more
// than k votes; 0 if never.
type viewerSeen struct {
	Last string  `json:"last"`
	Recv []int64 `json:"recv"`
}

// viewerReport is a worker's answer to "final".
type viewerReport struct {
	Behind  int          `json:"behind"`
	Viewers []viewerSeen `json:"viewers"`
}

// viewers creates o.viewerPolls polls and watches each with o.viewers
// WebSocket clients, sends o.viewerVotes new votes to every poll (each
// poll's votes one after the other, the polls at once), times each vote to
// each of its poll's viewers, and checks that every viewer ends on its
// poll's exact tally. When one process may not hold every viewer (the
// open-file limit), the polls are split into groups, each group's viewers
// on a result server and in a client process of their own.
func viewers(ctx context.Context, s *system, o options, progress func(string, ...any)) (viewersResult, error) {
	res := viewersResult{Polls: o.viewerPolls, ViewersPerPoll: o.viewers, Viewers: o.viewerPolls * o.viewers, VotesPerPoll: o.viewerVotes}
	groups := 1
	for (o.viewerPolls+groups-1)/groups*o.viewers > o.fileRoom {
		groups++
	}
	res.ResultServers, res.ClientProcesses = groups, groups
	progress("viewers: creating %d polls", o.viewerPolls)
	polls, err := createPolls(ctx, s.vote, o.viewerPolls)
	if err != nil {
		return res, fmt.Errorf("creating polls: %w", err)
	}
	ids := make([]string, len(polls))
	zero := make([]map[string]int64, len(polls))
	for i, p := range polls {
		ids[i] = p.id
		zero[i] = make(map[string]int64, len(p.options))
		for _, opt := range p.options {
			zero[i][opt] = 0
		}
	}
	check := s.exactChecker(ids)
	if err := waitExact(ctx, check, zero, time.Minute); err != nil {
		return res, fmt.Errorf("the new polls: %w", err)
	}
	results := []string{s.result}
	if groups > 1 {
		progress("viewers: %d viewers need %d result servers and client processes (%d open files a process)", res.Viewers, groups, o.fileRoom)
		more, err := s.moreResults(ctx, groups-1)
		if err != nil {
			return res, err
		}
		results = append(results, more...)
	}

	// Group g: the polls p with p % groups == g, their viewers in order.
	pollOf := make([][]int, groups)
	workers := make([]*viewerProc, groups)
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.close()
			}
		}
	}()
	start := time.Now()
	for g := range groups {
		job := viewerJob{Votes: o.viewerVotes}
		for p := g; p < len(polls); p += groups {
			for range o.viewers {
				job.URLs = append(job.URLs, wsURL(results[g])+"?poll="+ids[p])
				pollOf[g] = append(pollOf[g], p)
			}
		}
		if workers[g], err = startViewerProc(ctx, job); err != nil {
			return res, err
		}
	}
	for _, w := range workers {
		if line, err := w.answer(2 * time.Minute); err != nil || line != "connected" {
			return res, fmt.Errorf("viewer worker: %q %v", line, err)
		}
	}
	res.ConnectSecs = time.Since(start).Seconds()
	progress("viewers: %d viewers of %d polls connected in %.1fs (%d result servers); voting", res.Viewers, len(polls), res.ConnectSecs, groups)
	time.Sleep(500 * time.Millisecond)
	res.ResultRSSMB = largestRSSMB(results)

	// sent[p][k] is when the k-th vote of poll p was sent (Unix ns).
	sent := make([][]atomic.Int64, len(polls))
	for p := range sent {
		sent[p] = make([]atomic.Int64, o.viewerVotes)
	}
	want := make([]map[string]int64, len(polls))
	for i := range want {
		want[i] = make(map[string]int64, len(zero[i]))
		for k, v := range zero[i] {
			want[i][k] = v
		}
	}
	// Each of 64 senders owns every 64th poll and sends its polls' votes
	// round by round, so a poll's votes go one after the other.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var acked, refused atomic.Int64
	var senders sync.WaitGroup
	t0 := time.Now()
	const nSenders = 64
	for w := 0; w < nSenders; w++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for k := 0; k < o.viewerVotes; k++ {
				for p := w; p < len(polls) && ctx.Err() == nil; p += nSenders {
					opt := polls[p].options[rand.IntN(len(polls[p].options))]
					sent[p][k].Store(time.Now().UnixNano())
					resp, err := client.Post(polls[p].endpoint, "application/json", strings.NewReader(`{"vote":"`+opt+`"}`))
					if err != nil {
						refused.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						refused.Add(1)
						continue
					}
					acked.Add(1)
					want[p][opt]++ // this sender's poll only
				}
			}
		}()
	}
	senders.Wait()
	res.SendSeconds = time.Since(t0).Seconds()
	res.Acked, res.Refused = acked.Load(), refused.Load()
	if res.Refused > 0 {
		return res, fmt.Errorf("%d of %d votes refused or failed", res.Refused, res.Acked+res.Refused)
	}
	progress("viewers: %d votes sent in %.1fs; waiting until every viewer has its poll's final tally", res.Acked, res.SendSeconds)

	reports := make([]viewerReport, groups)
	for g, w := range workers {
		if reports[g], err = w.final(); err != nil {
			return res, err
		}
	}
	// The truth: PostgreSQL's counts (the result server's own query) must
	// be the generator's, and every viewer's last tally must be them.
	if err := waitExact(ctx, check, want, time.Minute); err != nil {
		return res, err
	}
	res.ExactBy = check.by
	var (
		lats  []time.Duration
		last  int64
		wrong []string
	)
	for g, rep := range reports {
		if len(rep.Viewers) != len(pollOf[g]) {
			return res, fmt.Errorf("viewer worker %d reported %d viewers of %d", g, len(rep.Viewers), len(pollOf[g]))
		}
		for j, v := range rep.Viewers {
			p := pollOf[g][j]
			for k, at := range v.Recv {
				if at != 0 {
					lats = append(lats, time.Duration(max(at-sent[p][k].Load(), 0)))
					last = max(last, at)
				}
			}
			var t tally.Tally
			err := json.Unmarshal([]byte(v.Last), &t)
			if err == nil && t.Poll == ids[p] && countsEqual(t.Counts, want[p]) {
				res.Exact++
			} else if len(wrong) < 5 {
				wrong = append(wrong, fmt.Sprintf("a viewer of poll %s: %v %v, want %v", ids[p], t.Counts, err, want[p]))
			}
		}
	}
	pc := percentiles(lats)
	res.P50Ms, res.P99Ms, res.MaxMs = pc.p50, pc.p99, pc.max
	res.AllSeconds = time.Duration(last - t0.UnixNano()).Seconds()
	res.ResultRSSMB = max(res.ResultRSSMB, largestRSSMB(results))
	if res.Exact != res.Viewers {
		return res, fmt.Errorf("%d of %d viewers not on their poll's exact tally: %s", res.Viewers-res.Exact, res.Viewers, strings.Join(wrong, "; "))
	}
	return res, nil
}

// largestRSSMB is the largest RSS of the result servers at urls, in MB.
func largestRSSMB(urls []string) float64 {
	var mb float64
	for _, u := range urls {
		if rss, err := metricValue(u, "process_resident_memory_bytes"); err == nil {
			mb = max(mb, rss/1e6)
		}
	}
	return mb
}

// viewerProc is a viewer worker process seen from the phase.
type viewerProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	answers chan string
}

func startViewerProc(ctx context.Context, job viewerJob) (*viewerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	w := &viewerProc{cmd: exec.CommandContext(ctx, self, "-viewer-worker"), answers: make(chan string, 2)}
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 256<<20)
		for sc.Scan() {
			w.answers <- sc.Text()
		}
		close(w.answers)
	}()
	b, _ := json.Marshal(job)
	if _, err := w.stdin.Write(append(b, '\n')); err != nil {
		return w, err
	}
	return w, nil
}

func (w *viewerProc) answer(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-w.answers:
		if !ok {
			return "", errors.New("the viewer worker ended")
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer from a viewer worker within %v", timeout)
	}
}

// final asks the worker for its viewers once each holds its poll's final
// tally (or a minute has passed).
func (w *viewerProc) final() (viewerReport, error) {
	var rep viewerReport
	if _, err := io.WriteString(w.stdin, "final\n"); err != nil {
		return rep, err
	}
	line, err := w.answer(90 * time.Second)
	if err == nil {
		err = json.Unmarshal([]byte(line), &rep)
	}
	if err != nil {
		return rep, fmt.Errorf("viewer worker: %w", err)
	}
	if rep.Behind > 0 {
		return rep, fmt.Errorf("%d viewers without their poll's final tally a minute after the last vote", rep.Behind)
	}
	return rep, nil
}

func (w *viewerProc) close() {
	w.stdin.Close()
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}

// viewer is one WebSocket client of a viewer worker.
type viewer struct {
	mu   sync.Mutex
	seen int64 // the highest total seen, at most the votes
	ver  int64
	last []byte // the message of the highest version seen
	recv []int64
}

// viewerWorker is a share of the viewers phase's clients, run as
// `loadgen -viewer-worker`: it reads a viewerJob line, connects a viewer
// to each URL, answers "connected", then on "final" waits (up to a
// minute) until every viewer has a tally with all the votes and answers
// with a viewerReport line. It ends with its stdin.
func viewerWorker(in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return err
	}
	var job viewerJob
	if err := json.Unmarshal(line, &job); err != nil {
		return fmt.Errorf("viewer job: %w", err)
	}
	ctx := context.Background()
	vs := make([]*viewer, len(job.URLs))
	conns := make([]*wsClient, len(job.URLs))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	sem := make(chan struct{}, 100)
	var (
		dials   sync.WaitGroup
		dialErr atomic.Value
		failed  atomic.Int64
	)
	for i, u := range job.URLs {
		vs[i] = &viewer{recv: make([]int64, job.Votes)}
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			c, err := dialWS(ctx, sourceDialer(i), u)
			if err != nil {
				dialErr.Store(err.Error())
				failed.Add(1)
				return
			}
			conns[i] = c
			go vs[i].read(c, int64(job.Votes))
		}()
	}
	dials.Wait()
	if n := failed.Load(); n > 0 {
		e, _ := dialErr.Load().(string)
		fmt.Fprintf(out, "%d of %d viewers could not connect (%s)\n", n, len(job.URLs), e)
		return nil
	}
	fmt.Fprintln(out, "connected")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil
		}
		if strings.TrimSpace(line) != "final" {
			return fmt.Errorf("viewer worker: %q", line)
		}
		deadline := time.Now().Add(time.Minute)
		rep := viewerReport{Viewers: make([]viewerSeen, len(vs))}
		for {
			rep.Behind = 0
			for _, v := range vs {
				v.mu.Lock()
				if v.seen < int64(job.Votes) {
					rep.Behind++
				}
				v.mu.Unlock()
			}
			if rep.Behind == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		for i, v := range vs {
			v.mu.Lock()
			rep.Viewers[i] = viewerSeen{Last: string(v.last), Recv: append([]int64(nil), v.recv...)}
			v.mu.Unlock()
		}
		b, _ := json.Marshal(rep)
		fmt.Fprintf(out, "%s\n", b)
	}
}

// read records what one viewer receives until its connection ends.
func (v *viewer) read(c *wsClient, votes int64) {
	buf := make([]byte, 512)
	for {
		b, err := c.next(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		ver, total := tallyFields(b)
		v.mu.Lock()
		for ; v.seen < min(total, votes); v.seen++ {
			v.recv[v.seen] = now
		}
		if ver > v.ver || v.last == nil {
			v.ver, v.last = ver, append(v.last[:0], b...)
		}
		v.mu.Unlock()
	}
}

func (r *report) viewers(res viewersResult) {
	r.emit(fmt.Sprintf("viewers: %d polls × %d viewers", res.Polls, res.ViewersPerPoll), [][2]string{
		{"connected", fmt.Sprintf("%d in %.1f s, on %d result servers from %d client processes", res.Viewers, res.ConnectSecs, res.ResultServers, res.ClientProcesses)},
		{"votes", fmt.Sprintf("%d (%d per poll, each poll's in turn) in %.1f s", res.Acked, res.VotesPerPoll, res.SendSeconds)},
		{"vote → viewer p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", res.P50Ms, res.P99Ms, res.MaxMs)},
		{"every viewer final", fmt.Sprintf("%.1f s after the first vote", res.AllSeconds)},
		{"viewers on the exact tally", fmt.Sprintf("%d of %d (checked against %s)", res.Exact, res.Viewers, res.ExactBy)},
		{"largest result server's RSS", fmt.Sprintf("%.0f MB", res.ResultRSSMB)},
	}, res)
}
