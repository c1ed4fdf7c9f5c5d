package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// roomSize is the room the default rate limits are chosen for: this many
// people behind one address (one NAT, here 127.0.0.1).
const roomSize = 1000

// TestRoomBehindOneAddress measures the default rate limits against the
// room they promise to let through: 1,000 people behind one address, each
// with a browser of their own (a cookie jar), open the vote page, vote, and
// every third changes the vote once. They all arrive within five seconds,
// as a room does when the link goes up; a 429 is honoured (wait
// Retry-After, send again), and so is a 503 (an overloaded machine: the
// make test run shares two cores with every other test, under the race
// detector), as a person would tap again a second later. Every voter's
// last vote must be acknowledged and in PostgreSQL within 60 s of the
// first page.
func TestRoomBehindOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, worker := e.start("result"), e.start("worker")
	// The limits at their defaults: the harness turns them off.
	vote := e.start("vote", "RATE_LIMIT_NEW_VOTERS=", "RATE_LIMIT_VOTES=")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}

	const deadline = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	// One transport for the room (the machine's sockets); a jar each.
	transport := &http.Transport{MaxIdleConnsPerHost: 200}
	defer transport.CloseIdleConnections()
	var (
		refused, unavailable, sent atomic.Int64
		mu                         sync.Mutex
		want                       = make(map[string]string, roomSize)
		failures                   []string
	)
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, msg)
	}
	// send does one request, waiting out 429s, and returns its status.
	send := func(client *http.Client, method, path, body string) int {
		for {
			req, _ := http.NewRequestWithContext(ctx, method, vote.url(path), strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			if err != nil {
				return 0
			}
			resp.Body.Close()
			sent.Add(1)
			if resp.StatusCode == http.StatusServiceUnavailable {
				unavailable.Add(1)
				select {
				case <-ctx.Done():
					return resp.StatusCode
				case <-time.After(time.Second):
				}
				continue
			}
			if resp.StatusCode != http.StatusTooManyRequests {
				return resp.StatusCode
			}
			refused.Add(1)
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || wait < 1 {
				fail("429 without a Retry-After of at least 1 s: " + resp.Header.Get("Retry-After"))
				return resp.StatusCode
			}
			select {
			case <-ctx.Done():
				return resp.StatusCode
			case <-time.After(time.Duration(wait) * time.Second):
			}
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < roomSize; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Arrivals spread over the first five seconds.
			time.Sleep(time.Duration(i) * 5 * time.Second / roomSize)
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Transport: transport, Jar: jar, Timeout: 20 * time.Second}
			if code := send(client, "GET", "/", ""); code != http.StatusOK {
				fail("page: status " + strconv.Itoa(code))
				return
			}
			choices := []string{"a"}
			if i%2 == 1 {
				choices[0] = "b"
			}
			if i%3 == 0 {
				choices = append(choices, map[string]string{"a": "b", "b": "a"}[choices[0]])
			}
			for _, c := range choices {
				if code := send(client, "POST", "/api/vote", `{"vote":"`+c+`"}`); code != http.StatusAccepted {
					fail("vote: status " + strconv.Itoa(code))
					return
				}
			}
			id := (&voter{client: client}).cookie(vote, "voter_id")
			mu.Lock()
			if _, dup := want[id]; dup || id == "" {
				failures = append(failures, "voter id missing or shared: "+id)
			}
			want[id] = choices[len(choices)-1]
			mu.Unlock()
		}()
	}
	wg.Wait()
	acked := time.Since(start)
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	waitFor(t, deadline-time.Since(start), "every voter's vote in PostgreSQL", func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM votes").Scan(&n)
		return err == nil && n == roomSize
	})
	counted := time.Since(start)
	// Once the worker has drained: each voter's last vote, row by row.
	waitFor(t, 10*time.Second, "the worker to drain", func() bool {
		n, err := e.rdb.XLen(context.Background(), e.stream()).Result()
		return err == nil && n == 0
	})
	e.checkRows(want)
	t.Logf("room of %d behind one address, default limits: %d requests, %d answered 429, %d answered 503; all votes acknowledged in %v, all counted in PostgreSQL in %v",
		roomSize, sent.Load(), refused.Load(), unavailable.Load(), acked.Round(time.Millisecond), counted.Round(time.Millisecond))
}

// TestRateLimitsSharedByVoteServers: two vote servers on one Redis count
// one address's new voters together: over the limit, whichever server
// gets the vote answers 429 with Retry-After, and a voter who has an id
// votes on.
func TestRateLimitsSharedByVoteServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	limits := []string{"RATE_LIMIT_NEW_VOTERS=4/m", "RATE_LIMIT_VOTES=off"}
	servers := []*proc{e.start("vote", limits...), e.start("vote", limits...)}
	var codes []int
	var first *voter
	for i := 0; i < 8; i++ {
		v := newVoter(t)
		req, _ := http.NewRequest("POST", servers[i%2].url("/api/vote"), strings.NewReader(`{"vote":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := v.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 15 {
				t.Errorf("429 with Retry-After %q, want 1 to 15 s (4 a minute)", resp.Header.Get("Retry-After"))
			}
		}
		if i == 0 {
			first = v
		}
	}
	want := []int{202, 202, 202, 202, 429, 429, 429, 429}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("new voters alternating between two vote servers: got %v, want %v", codes, want)
	}
	for _, s := range servers {
		if code := first.vote(t, s, "b"); code != http.StatusAccepted {
			t.Errorf("a voter with an id: got %d, want 202", code)
		}
	}
}

// TestBrowserVoteWaitsOutRateLimit: over the vote limit, the page's script
// says so and sends the vote again after Retry-After, once.
func TestBrowserVoteWaitsOutRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result")
	e.start("worker")
	// One vote a second: a change of mind right after a vote is over it.
	vote := e.start("vote", "RESULT_URL=http://"+result.addr, "RATE_LIMIT_VOTES=1/s")
	result.waitReady()

	b := newBrowser(t)
	ctx := b.tab(tabOptions{}, 60*time.Second)
	navigate(t, ctx, vote.url("/"))
	markNotReloaded(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value="a"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('button[value="a"]').classList.contains("chosen")`, "the first vote marked")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value="b"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `/Too many votes from your network right now: sending your vote again in 1 s/.test(document.getElementById("error").textContent)`,
		"the page saying it will send the vote again")
	waitJS(t, ctx, `document.querySelector('button[value="b"]').classList.contains("chosen") &&
		document.getElementById("error").textContent === ""`, "the vote sent again and marked")
	checkNotReloaded(t, ctx, "vote page")
}
