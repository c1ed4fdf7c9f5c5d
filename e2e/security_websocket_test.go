package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"livevote/shared/tally"
)

// metricOr0 is metric for a series that exists only once counted (a
// label of a counter vector): 0 while /metrics does not list it.
func metricOr0(t *testing.T, p *proc, series string) float64 {
	t.Helper()
	code, body, _ := request(t, nil, http.MethodGet, p.url("/metrics"), "", "")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: got %d", p.name, code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s /metrics: %s: %v", p.name, line, err)
			}
			return f
		}
	}
	return 0
}

// TestSecurityWebSocketOrigins opens the result server's WebSocket as
// pages of other sites would (a browser always sends their Origin, which
// they cannot change) and as programs do (no Origin). With WS_ORIGINS
// unset, pages of the host the browser connected to are served from any
// port, any other origin, "null" and malformed ones are refused with 403
// before the upgrade (and counted); with WS_ORIGINS set, only the listed
// origins are served. Clients without an Origin are served either way, and
// get the tally at once.
func TestSecurityWebSocketOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const listed = "https://votes.example.org"
	open := e.start("result")
	strict := e.start("result", "WS_ORIGINS="+listed+",http://localhost:8080")
	e.start("worker").waitReady()
	open.waitReady()
	strict.waitReady()
	p := e.start("vote")
	created := createPoll(t, p, pollDefs(t)["two"])
	waitPollKnown(t, open, created.ID)
	waitPollKnown(t, strict, created.ID)

	host := func(r *proc) string { return "http://" + r.addr }
	otherPort := func(r *proc) string { return "http://127.0.0.1:" + strconv.Itoa(freePort(t)) }
	tests := []struct {
		name   string
		server *proc
		origin func(r *proc) string
		served bool
	}{
		{"no Origin (a program)", open, func(*proc) string { return "" }, true},
		{"the host connected to, this port", open, host, true},
		{"the host connected to, another port (the vote page)", open, otherPort, true},
		{"another site", open, func(*proc) string { return "https://evil.example" }, false},
		{"another name of this machine", open, func(r *proc) string { return "http://localhost:" + strings.Split(r.addr, ":")[1] }, false},
		{"a subdomain-looking host", open, func(*proc) string { return "http://127.0.0.1.evil.example" }, false},
		{"Origin null (a sandboxed frame)", open, func(*proc) string { return "null" }, false},
		{"a malformed Origin", open, func(*proc) string { return "127.0.0.1" }, false},
		{"WS_ORIGINS: a listed origin", strict, func(*proc) string { return listed }, true},
		{"WS_ORIGINS: the other listed origin", strict, func(*proc) string { return "http://localhost:8080" }, true},
		{"WS_ORIGINS: no Origin (a program)", strict, func(*proc) string { return "" }, true},
		{"WS_ORIGINS: the host connected to, unlisted", strict, host, false},
		{"WS_ORIGINS: a listed host on another port", strict, func(*proc) string { return "https://votes.example.org:8443" }, false},
		{"WS_ORIGINS: a listed host over http", strict, func(*proc) string { return "http://votes.example.org" }, false},
		{"WS_ORIGINS: another site", strict, func(*proc) string { return "https://evil.example" }, false},
	}
	refused := map[*proc]float64{}
	for _, tt := range tests {
		for _, path := range []string{"/ws", "/ws?poll=" + created.ID} {
			t.Run(tt.name+"/"+path, func(t *testing.T) {
				h := http.Header{}
				if o := tt.origin(tt.server); o != "" {
					h.Set("Origin", o)
				}
				d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
				conn, resp, err := d.Dial("ws://"+tt.server.addr+path, h)
				if !tt.served {
					refused[tt.server]++
					if err == nil {
						conn.Close()
						t.Fatalf("Origin %q was served a WebSocket, want 403 before the upgrade", h.Get("Origin"))
					}
					if resp == nil || resp.StatusCode != http.StatusForbidden {
						t.Fatalf("Origin %q: got %v (response %v), want 403", h.Get("Origin"), err, resp)
					}
					if up := resp.Header.Get("Upgrade"); up != "" {
						t.Errorf("the 403 carries Upgrade: %s", up)
					}
					if b, _ := io.ReadAll(resp.Body); len(strings.TrimSpace(string(b))) == 0 {
						t.Errorf("the 403 has an empty body, want a message saying why")
					}
					return
				}
				if err != nil {
					t.Fatalf("Origin %q: %v, want served", h.Get("Origin"), err)
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, msg, err := conn.ReadMessage()
				if err != nil {
					t.Fatalf("reading the first tally: %v", err)
				}
				var tl tally.Tally
				if err := json.Unmarshal(msg, &tl); err != nil {
					t.Fatalf("the first message %s is not a tally: %v", msg, err)
				}
			})
		}
	}
	for _, r := range []*proc{open, strict} {
		if got := metricOr0(t, r, `result_websocket_refused_total{reason="origin"}`); got != refused[r] {
			t.Errorf("%s: result_websocket_refused_total{reason=\"origin\"} is %v, want %v", r.addr, got, refused[r])
		}
	}
}
