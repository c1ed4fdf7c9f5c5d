package web

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"

	"livevote/shared/poll"
)

// cspDirectives are what every answer's Content-Security-Policy holds but
// frame-ancestors, which the presenter view may change.
var cspDirectives = []string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
	"base-uri 'none'", "form-action 'self'", "object-src 'none'",
	// The pages connect to this server's own WebSocket, at the host the
	// browser used.
	"connect-src 'self' ws://example.com;"}

func checkSecurityHeaders(t *testing.T, r response, frameAncestors string) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range append(cspDirectives, "frame-ancestors "+frameAncestors+";") {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy: got %q, want it to hold %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
		t.Errorf("Content-Security-Policy: got %q, want nothing unsafe or wild", csp)
	}
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
	}
	if got := r.header.Get("Referrer-Policy"); got != "same-origin" {
		t.Errorf("Referrer-Policy: got %q, want same-origin", got)
	}
}

// TestSecurityHeadersOnEveryAnswer: pages, errors, the API, static files,
// the WebSocket route and the health routes all carry the headers.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	s := newServer(t, nil)
	s.db.add("talks", "Which talk next?", []string{"Go", "SQL"}, []int64{3, 1}, 5, "")
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/", 200},
		{"/p/talks", 200},
		{"/p/talks/present", 200},
		{"/p/talks/qr.png", 200},
		{"/p/nope", 404},
		{"/no/such/page", 404},
		{"/api/tally", 200},
		{"/api/polls/talks/tally", 200},
		{"/api/polls/nope/tally", 404},
		{"/api/polls/talks/results.csv", 200},
		{"/ws?poll=talks", 426},
		{"/static/style.css", 200},
		{"/static/tally.js", 200},
		{"/static/nope.js", 404},
		{"/healthz", 200},
		{"/readyz", 200},
		{"/metrics", 200},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := s.get(t, tt.path)
			if r.code != tt.code {
				t.Errorf("status: got %d, want %d", r.code, tt.code)
			}
			checkSecurityHeaders(t, r, "'none'")
			if got := r.header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options: got %q, want DENY", got)
			}
		})
	}
}

// TestPresenterFraming: PRESENT_FRAME_ANCESTORS lets slides frame the
// presenter view, and nothing else.
func TestPresenterFraming(t *testing.T) {
	for _, tt := range []struct {
		name, env, present string
	}{
		{"unset", "", "'none'"},
		{"set", "https://slides.example.com, https://deck.example:8443", "https://slides.example.com https://deck.example:8443"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, map[string]string{"PRESENT_FRAME_ANCESTORS": tt.env})
			s.db.add("talks", "Which talk next?", []string{"Go", "SQL"}, []int64{3, 1}, 5, "")
			r := s.get(t, "/p/talks/present")
			checkSecurityHeaders(t, r, tt.present)
			wantXFO := "DENY"
			if tt.env != "" {
				wantXFO = "" // it would forbid the frame the policy allows
			}
			if got := r.header.Get("X-Frame-Options"); got != wantXFO {
				t.Errorf("X-Frame-Options: got %q, want %q", got, wantXFO)
			}
			for _, path := range []string{"/p/talks", "/", "/p/talks/qr.png"} {
				checkSecurityHeaders(t, s.get(t, path), "'none'")
			}
		})
	}
}

// TestWebSocketOrigins: a browser page of a foreign origin cannot open the
// WebSocket (403 before the upgrade, counted); pages of this host, on any
// port, and programs without Origin can. WS_ORIGINS replaces the host
// rule by its list.
func TestWebSocketOrigins(t *testing.T) {
	for _, tt := range []struct {
		name, wsOrigins, origin string
		ok                      bool
	}{
		{"no Origin", "", "", true},
		{"the result page itself", "", "http://127.0.0.1:PORT", true},
		{"the vote page on another port", "", "http://127.0.0.1:8080", true},
		{"https page of this host", "", "https://127.0.0.1", true},
		{"foreign page", "", "https://evil.example", false},
		{"another name of this machine", "", "http://localhost:PORT", false},
		{"Origin null", "", "null", false},
		{"malformed Origin", "", "127.0.0.1:8080", false},
		{"listed", "https://vote.example.org,http://127.0.0.1:8080", "https://vote.example.org", true},
		{"listed second", "https://vote.example.org,http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"listed, no Origin", "https://vote.example.org", "", true},
		{"this host, not listed", "https://vote.example.org", "http://127.0.0.1:PORT", false},
		{"listed host, other port", "https://vote.example.org", "https://vote.example.org:8443", false},
		{"listed host, other scheme", "https://vote.example.org", "http://vote.example.org", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, map[string]string{"WS_ORIGINS": tt.wsOrigins})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = s.app.Listener(ln) }()
			defer s.app.Shutdown()
			_, port, _ := net.SplitHostPort(ln.Addr().String())

			header := http.Header{}
			if tt.origin != "" {
				header.Set("Origin", strings.ReplaceAll(tt.origin, "PORT", port))
			}
			conn, resp, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws?poll="+poll.DefaultID, header)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want the upgrade", err)
				}
				defer conn.Close()
				if _, _, err := conn.ReadMessage(); err != nil {
					t.Errorf("first message: %v, want the tally", err)
				}
			} else if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				if conn != nil {
					conn.Close()
				}
				t.Fatalf("got %v %v, want 403 before the upgrade", resp, err)
			}
			want := `result_websocket_refused_total{reason="origin"} 0`
			if !tt.ok {
				want = `result_websocket_refused_total{reason="origin"} 1`
			}
			if m := s.get(t, "/metrics"); !strings.Contains(m.body, want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
}
