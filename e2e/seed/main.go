// Command seed casts the original example-voting-app's seed load against a
// vote server: its seed-data posted the forms vote=a and vote=b with `ab`
// (2,000 for a and 1,000 for b, 50 at a time), each request a new voter.
// seed does the same with its own numbers and concurrency, as plain form
// posts without cookies, so that each vote is a new voter's.
//
// The vote server's rate limits apply to seed as to anyone: a 429 makes
// every sender wait its Retry-After, then the vote is sent again. A 503
// (Redis not answering yet) or a connection error is retried every second
// for a while. Anything else stops seed with an error.
//
//	seed -url http://vote:8080 -a 2000 -b 1000 -c 50
//
// compose's seed profile runs it (`docker compose --profile seed up seed`).
// It reads no environment variable and imports nothing outside the standard
// library, so its image builds from e2e/go.mod and this folder alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "seed: %v\n", err)
		os.Exit(1)
	}
}

// options are seed's flags.
type options struct {
	target   *url.URL // the vote page the forms are posted to
	a, b     int      // votes for option a and for option b
	conns    int      // requests at once
	timeout  time.Duration
	attempts int // tries of one vote on 503 or a connection error
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(out)
	raw := fs.String("url", "http://vote:8080", "the vote server; the forms are posted to its page of the default poll (/)")
	fs.IntVar(&o.a, "a", 2000, "votes for option a, each a new voter's")
	fs.IntVar(&o.b, "b", 1000, "votes for option b, each a new voter's")
	fs.IntVar(&o.conns, "c", 50, "votes sent at once")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.IntVar(&o.attempts, "attempts", 30, "tries of one vote while the server answers 503 or cannot be reached, a second apart")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	u, err := url.Parse(*raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("-url %q: want http://host:port", *raw)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/"
	o.target = u
	switch {
	case o.a < 0 || o.b < 0 || o.a+o.b == 0:
		return o, fmt.Errorf("-a %d -b %d: want counts of zero or more, not both zero", o.a, o.b)
	case o.conns < 1 || o.conns > 1000:
		return o, fmt.Errorf("-c %d: want 1 to 1000", o.conns)
	case o.timeout <= 0:
		return o, fmt.Errorf("-timeout %v: want a positive duration", o.timeout)
	case o.attempts < 1:
		return o, fmt.Errorf("-attempts %d: want at least 1", o.attempts)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	// Options in a random order, as the voters of a room would come.
	jobs := make([]string, 0, o.a+o.b)
	for range o.a {
		jobs = append(jobs, "a")
	}
	for range o.b {
		jobs = append(jobs, "b")
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

	s := &seeder{
		o:      o,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.conns}},
		voters: map[string]bool{},
		cast:   map[string]int{},
	}
	fmt.Fprintf(stdout, "seed: casting %d votes for a and %d for b at %s, %d at a time\n", o.a, o.b, o.target, o.conns)
	start := time.Now()
	work := make(chan string)
	errc := make(chan error, o.conns)
	var wg sync.WaitGroup
	for range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for option := range work {
				if err := s.vote(ctx, option); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	stopProgress := s.progress(ctx, stdout, len(jobs))
feed:
	for _, option := range jobs {
		select {
		case work <- option:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	stopProgress()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.cast["a"] + s.cast["b"]
	if total < len(jobs) {
		return fmt.Errorf("stopped after %d of %d votes (%d for a, %d for b): %w", total, len(jobs), s.cast["a"], s.cast["b"], context.Cause(ctx))
	}
	if len(s.voters) != total {
		return fmt.Errorf("%d votes were cast by only %d distinct voters: the vote server gave the same voter id twice", total, len(s.voters))
	}
	fmt.Fprintf(stdout, "seed: %d votes cast (%d for a, %d for b) by %d distinct voters in %.1fs; %d answers 429 (rate limit) waited out, %d retried\n",
		total, s.cast["a"], s.cast["b"], len(s.voters), time.Since(start).Seconds(), s.limited, s.retried)
	return nil
}

// seeder sends the votes and counts what became of them.
type seeder struct {
	o      options
	client *http.Client

	mu      sync.Mutex
	voters  map[string]bool // voter ids the server issued
	cast    map[string]int  // votes accepted per option
	limited int             // 429 answers
	retried int             // 503 answers and connection errors
	resume  time.Time       // no vote is sent before this (Retry-After)
}

// vote casts one vote for option as a new voter, until it is accepted.
func (s *seeder) vote(ctx context.Context, option string) error {
	failures := 0
	for {
		if err := s.waitResume(ctx); err != nil {
			return nil // the caller reports what was left undone
		}
		status, voter, retryAfter, err := s.post(ctx, option)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil && status == http.StatusOK && voter != "":
			s.mu.Lock()
			s.cast[option]++
			s.voters[voter] = true
			s.mu.Unlock()
			return nil
		case err == nil && status == http.StatusOK:
			return fmt.Errorf("vote for %s: the server answered 200 without a voter id: is %s a vote server?", option, s.o.target)
		case err == nil && status == http.StatusTooManyRequests:
			s.mu.Lock()
			s.limited++
			if t := time.Now().Add(retryAfter); t.After(s.resume) {
				s.resume = t
			}
			s.mu.Unlock()
		case err != nil || status == http.StatusServiceUnavailable:
			failures++
			if failures >= s.o.attempts {
				if err == nil {
					err = fmt.Errorf("answered %d %s", status, http.StatusText(status))
				}
				return fmt.Errorf("vote for %s: %d tries a second apart failed, the last: %w", option, failures, err)
			}
			s.mu.Lock()
			s.retried++
			s.mu.Unlock()
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
		default:
			return fmt.Errorf("vote for %s: the server answered %d %s", option, status, http.StatusText(status))
		}
	}
}

// waitResume waits until the last Retry-After has passed.
func (s *seeder) waitResume(ctx context.Context) error {
	s.mu.Lock()
	wait := time.Until(s.resume)
	s.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	select {
	case <-time.After(wait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post sends the form vote=option without cookies and returns the status,
// the voter id the server issued and the Retry-After of a 429.
func (s *seeder) post(ctx context.Context, option string) (status int, voter string, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.target.String(), strings.NewReader(url.Values{"vote": {option}}.Encode()))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "voter_id" {
			voter = c.Value
		}
	}
	return resp.StatusCode, voter, parseRetryAfter(resp.Header.Get("Retry-After")), nil
}

// parseRetryAfter reads Retry-After in seconds (the vote server's form);
// missing or unreadable, one second.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return time.Second
	}
	return time.Duration(n) * time.Second
}

// progress prints how far seed is every five seconds until stopped.
func (s *seeder) progress(ctx context.Context, w io.Writer, total int) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.mu.Lock()
				fmt.Fprintf(w, "seed: %d of %d votes cast, %d answers 429 waited out\n", s.cast["a"]+s.cast["b"], total, s.limited)
				s.mu.Unlock()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
