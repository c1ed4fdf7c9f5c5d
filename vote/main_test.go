package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/servicetest"
)

// TestRunStartsWithDependencyDown: redis is unreachable, which is not a bad
// setting, so the server starts and reports not-ready naming it.
func TestRunStartsWithDependencyDown(t *testing.T) {
	servicetest.Boot(t, run, "VOTE_ADDR", map[string]string{"REDIS_URL": "redis://" + servicetest.FreeAddr(t) + "/0"}, "redis")
}

func TestRunRefusesBadSettings(t *testing.T) {
	servicetest.RefuseBadSettings(t, run, "REDIS_URL", "VOTE_ADDR")
}

func TestRunRefusesBadGuardSettings(t *testing.T) {
	tests := []struct{ key, value string }{
		{"VOTER_SECRET", "hunter2"},
		{"RATE_LIMIT_NEW_VOTERS", "lots"},
		{"RATE_LIMIT_VOTES", "5/h"},
		{"TRUSTED_PROXIES", "10.0.0.0/8;192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := run(context.Background(), nil, func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.key) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line naming %s", err, tt.key)
			}
			if tt.key == "VOTER_SECRET" && err != nil && strings.Contains(err.Error(), tt.value) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// server is one run of the vote server in a test.
type server struct {
	addr string
	out  *servicetest.LockedBuffer
}

// startRun runs the vote server with env until the test ends and waits
// for it to be ready.
func startRun(t *testing.T, env map[string]string) *server {
	t.Helper()
	s := &server{addr: servicetest.FreeAddr(t), out: &servicetest.LockedBuffer{}}
	vars := map[string]string{"VOTE_ADDR": s.addr, "REDIS_URL": testRedisURL()}
	maps.Copy(vars, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return vars[k] }, s.out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vote server not ready within 10 s:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vote posts a vote with the voter_id cookie id ("" for none) and returns
// the status, the voter_id of the answer and the voter_id cookie it set.
func (s *server) vote(t *testing.T, id, option string) (status int, answered, set string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/api/vote", strings.NewReader(`{"vote":"`+option+`"}`))
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.AddCookie(&http.Cookie{Name: "voter_id", Value: id})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		VoterID string `json:"voter_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	for _, c := range resp.Cookies() {
		if c.Name == "voter_id" {
			set = c.Value
		}
	}
	return resp.StatusCode, body.VoterID, set
}

func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testStreams returns n fresh stream names whose keys are deleted when the
// test ends.
func testStreams(t *testing.T, n int) []string {
	t.Helper()
	opts, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL is unreachable: %v; start it with `make services`", err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "test_vote_" + strings.ToLower(rand.Text()[:10])
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, name := range names {
			keys, _ := rdb.Keys(ctx, "*"+name+"*").Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
		}
		rdb.Close()
	})
	return names
}

// TestVoteServersShareVoterIDs: two vote servers on one Redis and stream
// take each other's voter ids with no setting; another installation (its
// own stream and so its own key) does not, and neither takes a forged id.
func TestVoteServersShareVoterIDs(t *testing.T) {
	streams := testStreams(t, 2)
	env := map[string]string{"VOTE_STREAM": streams[0], "RATE_LIMIT_NEW_VOTERS": "off", "RATE_LIMIT_VOTES": "off"}
	a, b := startRun(t, env), startRun(t, env)
	other := startRun(t, map[string]string{"VOTE_STREAM": streams[1], "RATE_LIMIT_NEW_VOTERS": "off", "RATE_LIMIT_VOTES": "off"})

	code, id, set := a.vote(t, "", "a")
	if code != 202 || id == "" || set != id {
		t.Fatalf("first vote: got %d, id %q, cookie %q; want 202 and a new id in both", code, id, set)
	}
	if code, got, set := b.vote(t, id, "b"); code != 202 || got != id || set != "" {
		t.Errorf("second server: got %d, id %q, new cookie %q; want 202 as %s and no new cookie", code, got, set, id)
	}
	forged := id[:len(id)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(id, "A")]
	for name, bad := range map[string]string{"altered": forged, "made up": "abcXYZ019-_abcXYZ019-_.0123456789abcDEF"} {
		if code, got, set := b.vote(t, bad, "a"); code != 202 || got == bad || set != got {
			t.Errorf("%s id: got %d, id %q, cookie %q; want 202 under a new id set as the cookie", name, code, got, set)
		}
	}
	if code, got, set := other.vote(t, id, "a"); code != 202 || got == id || set != got {
		t.Errorf("another installation: got %d, id %q, cookie %q; want 202 under a new id", code, got, set)
	}
}

// TestVoterSecret: with VOTER_SECRET, servers of different streams (here,
// the same secret) take each other's ids, and Redis holds no key.
func TestVoterSecret(t *testing.T) {
	streams := testStreams(t, 2)
	secret := strings.Repeat("correct horse battery staple ", 2)
	a := startRun(t, map[string]string{"VOTE_STREAM": streams[0], "VOTER_SECRET": secret, "RATE_LIMIT_NEW_VOTERS": "off", "RATE_LIMIT_VOTES": "off"})
	b := startRun(t, map[string]string{"VOTE_STREAM": streams[1], "VOTER_SECRET": secret, "RATE_LIMIT_NEW_VOTERS": "off", "RATE_LIMIT_VOTES": "off"})
	_, id, _ := a.vote(t, "", "a")
	if code, got, set := b.vote(t, id, "b"); code != 202 || got != id || set != "" {
		t.Errorf("got %d, id %q, new cookie %q; want 202 as %s", code, got, set, id)
	}
	opts, _ := redis.ParseURL(testRedisURL())
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if n, err := rdb.Exists(context.Background(), streams[0]+":voter-key", streams[1]+":voter-key").Result(); err != nil || n != 0 {
		t.Errorf("Redis holds %d voter keys (%v), want none with VOTER_SECRET", n, err)
	}
	if strings.Contains(a.out.String(), secret[:20]) {
		t.Error("the secret is in the log")
	}
}
