package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// TestVoteReachesNATSAndWebSocket follows one vote from the vote server to
// the NATS subject, a result server's WebSocket, /api/tally and the table.
func TestVoteReachesNATSAndWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	published := make(chan tally.Tally, 16)
	sub, err := e.nc.Subscribe(e.subject(), func(m *nats.Msg) {
		var tl tally.Tally
		if err := json.Unmarshal(m.Data, &tl); err != nil {
			t.Errorf("NATS message %s is not a tally: %v", m.Data, err)
			return
		}
		published <- tl
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	result, _, vote := e.startAll()
	ws := dialSocket(t, result)
	waitFor(t, 5*time.Second, "the tally sent on connect", func() bool { _, ok := ws.last(); return ok })
	if first, _ := ws.last(); first.Total != 0 {
		t.Fatalf("first WebSocket message %+v, want the empty tally", first)
	}

	sent := time.Now()
	if code := newVoter(t).vote(t, vote, "a"); code != http.StatusAccepted {
		t.Fatalf("vote answered %d, want 202", code)
	}
	// A worker announces the current tally when it starts; the vote's
	// tally is the first with a vote in it.
	timeout := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case tl := <-published:
			if tl.Total == 0 {
				continue
			}
			got = true
			if tl.Poll != poll.DefaultID || tl.Counts["a"] != 1 || tl.Counts["b"] != 0 || tl.Total != 1 || tl.Version < 1 || tl.State != poll.StateOpen {
				t.Errorf("NATS tally %+v, want the default poll, a=1 b=0 total=1, open", tl)
			}
		case <-timeout:
			t.Fatal("no tally with the vote on NATS within 10s of it")
		}
	}
	waitFor(t, 10*time.Second, "the vote on the WebSocket", func() bool {
		tl, _ := ws.last()
		return tl.Counts["a"] == 1
	})
	t.Logf("vote to WebSocket: %v (race-enabled binaries)", time.Since(sent))
	_, raw := ws.messages()
	last := raw[len(raw)-1]
	for _, field := range []string{`"poll":"default"`, `"version":`, `"counts":{"a":1,"b":0}`, `"total":1`, `"state":"open"`, `"updated_at":"`} {
		if !strings.Contains(last, field) {
			t.Errorf("WebSocket message %s lacks %s", last, field)
		}
	}
	if got := apiTally(t, result); got.Counts["a"] != 1 || got.Total != 1 {
		t.Errorf("/api/tally %+v, want a=1", got)
	}
	if got := e.dbCounts(); got["a"] != 1 || got["b"] != 0 {
		t.Errorf("votes table %v, want a=1 b=0", got)
	}
}

// TestChangedVoteCountsOnceWithLastChoice has voters change their minds,
// some many times; each is counted once, with the last choice.
func TestChangedVoteCountsOnceWithLastChoice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result")
	worker := e.start("worker")
	vote := e.start("vote")
	// The result server answers /ws once it has read the tally from
	// PostgreSQL, which needs the worker's migrations (503 until then).
	result.waitReady()
	worker.waitReady()
	ws := dialSocket(t, result)

	const voters = 40
	want := map[string]int64{"a": 0, "b": 0}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < voters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := newVoter(t)
			seq := []string{"a", "b", "a", "b", "b", "a"}[:2+i%5]
			for _, o := range seq {
				if code := v.vote(t, vote, o); code != http.StatusAccepted {
					t.Errorf("vote answered %d", code)
					return
				}
			}
			mu.Lock()
			want[seq[len(seq)-1]]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	waitFor(t, 15*time.Second, fmt.Sprintf("the tally to reach %v", want), func() bool {
		tl := apiTally(t, result)
		return tl.Counts["a"] == want["a"] && tl.Counts["b"] == want["b"]
	})
	if got := e.dbCounts(); got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("votes table %v, want %v", got, want)
	}
	waitFor(t, 5*time.Second, "the WebSocket to catch up", func() bool {
		tl, _ := ws.last()
		return tl.Counts["a"] == want["a"] && tl.Counts["b"] == want["b"]
	})
	got, _ := ws.messages()
	for i := 1; i < len(got); i++ {
		if got[i].Version <= got[i-1].Version {
			t.Errorf("WebSocket versions went %d then %d; want strictly increasing", got[i-1].Version, got[i].Version)
		}
	}
}

// TestBadInputRecordsNothing sends each kind of bad request and checks its
// status, then that nothing reached the stream or the table.
func TestBadInputRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vote := e.start("vote")
	tests := []struct {
		name, path, contentType, body string
		want                          int
	}{
		{"option outside a and b", "/api/vote", "application/json", `{"vote":"c"}`, 400},
		{"label instead of id", "/api/vote", "application/json", `{"vote":"Cats"}`, 400},
		{"missing vote", "/api/vote", "application/json", `{}`, 400},
		{"number", "/api/vote", "application/json", `{"vote":1}`, 400},
		{"malformed json", "/api/vote", "application/json", `{"vote":`, 400},
		{"trailing garbage", "/api/vote", "application/json", `{"vote":"a"}x`, 400},
		{"body over 4 KiB", "/api/vote", "application/json", `{"vote":"a","pad":"` + strings.Repeat("x", 5000) + `"}`, 413},
		{"form body on the API", "/api/vote", "application/x-www-form-urlencoded", "vote=a", 415},
		{"no content type", "/api/vote", "", `{"vote":"a"}`, 415},
		{"form with bad option", "/", "application/x-www-form-urlencoded", "vote=z", 400},
		{"form without vote", "/", "application/x-www-form-urlencoded", "other=a", 400},
		{"form over 4 KiB", "/", "application/x-www-form-urlencoded", "vote=a&pad=" + strings.Repeat("x", 5000), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, vote.url(tt.path), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if len(strings.TrimSpace(string(body))) == 0 {
				t.Errorf("got an empty body, want a message saying what is wrong")
			}
		})
	}
	if n, err := e.rdb.XLen(context.Background(), e.stream()).Result(); err != nil || n != 0 {
		t.Errorf("stream holds %d entries (err %v) after bad input only, want 0", n, err)
	}
}

// TestVoteRefusedWhileRedisIsDown points a vote server at a port where no
// Redis listens: it starts, says it is not ready, and refuses votes with 503.
func TestVoteRefusedWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vote := e.start("vote", "REDIS_URL=redis://"+freeAddr(t)+"/0")
	resp, err := http.Get(vote.url("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"failing":"redis"`) {
		t.Errorf("/readyz answered %d %s, want 503 naming redis", resp.StatusCode, body)
	}
	if code := newVoter(t).vote(t, vote, "a"); code != http.StatusServiceUnavailable {
		t.Errorf("vote answered %d, want 503", code)
	}
	// The poll routes too: creating, voting in a poll and closing all need
	// Redis, and say so.
	for _, r := range []struct{ name, path, ctype, body string }{
		{"create", "/api/polls", "application/json", createBody("Up?", []string{"Yes", "No"})},
		{"vote in a poll", "/api/polls/somepoll/votes", "application/json", `{"vote":"a"}`},
		{"vote in the default poll", "/api/polls/default/votes", "application/json", `{"vote":"a"}`},
		{"form vote", "/p/default", "application/x-www-form-urlencoded", "vote=a"},
	} {
		code, body, _ := request(t, nil, http.MethodPost, vote.url(r.path), r.ctype, r.body)
		if code != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) == "" {
			t.Errorf("%s while Redis is down: got %d %.200s, want 503 with a message", r.name, code, body)
		}
	}
}

// TestSIGTERMStopsCleanly stops each service with SIGTERM while it works:
// each exits 0, WebSocket clients get a close frame, and a vote acknowledged
// before the worker stopped is counted by the next worker.
func TestSIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result")
	worker := e.start("worker")
	vote := e.start("vote")
	result.waitReady()
	ws := dialSocket(t, result)
	v := newVoter(t)
	if code := v.vote(t, vote, "b"); code != http.StatusAccepted {
		t.Fatalf("vote answered %d", code)
	}
	if err := worker.stop(15 * time.Second); err != nil {
		t.Errorf("worker: %v", err)
	}
	if code := v.vote(t, vote, "a"); code != http.StatusAccepted {
		t.Fatalf("vote answered %d", code)
	}
	if err := vote.stop(15 * time.Second); err != nil {
		t.Errorf("vote: %v", err)
	}
	e.start("worker")
	waitFor(t, 15*time.Second, "the last vote counted after the restart", func() bool {
		tl := apiTally(t, result)
		return tl.Counts["a"] == 1 && tl.Counts["b"] == 0
	})
	if err := result.stop(15 * time.Second); err != nil {
		t.Errorf("result: %v", err)
	}
	_ = ws.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	waitFor(t, 5*time.Second, "the WebSocket to be closed", func() bool {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		return ws.closeErr != nil
	})
	if !websocket.IsCloseError(ws.closeErr, websocket.CloseGoingAway) {
		t.Errorf("WebSocket ended with %v, want a going-away close frame", ws.closeErr)
	}
	for _, p := range []*proc{worker, vote, result} {
		if !strings.Contains(p.out.String(), "stopped") {
			t.Errorf("%s did not log its stop", p.name)
		}
	}
}
