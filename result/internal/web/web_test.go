package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/config"
	"livevote/result/internal/hub"
	"livevote/result/internal/tallyview"
	"livevote/shared/health"
	"livevote/shared/tally"
)

type server struct {
	app  *fiber.App
	view *tallyview.View
	hub  *hub.Hub
}

func newServer(t *testing.T) *server {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"OPTION_A": "Tea", "OPTION_B": "Coffee"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	empty := tally.Empty()
	h := hub.New(hub.NewMetrics(reg), empty.Version, empty.AppendJSON(nil))
	view := tallyview.New(func(t tally.Tally, b []byte) { h.Broadcast(t.Version, b) })
	logger := slog.New(slog.DiscardHandler)
	app, err := NewServer(logger, cfg, view, h, health.NewMonitor(logger, time.Second), reg)
	if err != nil {
		t.Fatal(err)
	}
	return &server{app: app, view: view, hub: h}
}

func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.app.Test(httptest.NewRequest("GET", path, nil), 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPageRendersTallyOnServer(t *testing.T) {
	tests := []struct {
		name   string
		counts map[string]int64
		want   []string
	}{
		{"no votes", nil, []string{"No votes yet", `data-percent="a">0%`, `data-percent="b">0%`}},
		{"one vote", map[string]int64{"b": 1}, []string{">1 vote<", `data-percent="a">0%`, `data-percent="b">100%`}},
		{"many", map[string]int64{"a": 10, "b": 7}, []string{">17 votes<", `data-percent="a">59%`, `data-percent="b">41%`}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.view.Offer(tally.New(int64(i), tt.counts, time.Now()))
			code, body := s.get(t, "/")
			if code != 200 {
				t.Fatalf("got %d, want 200", code)
			}
			for _, w := range append(tt.want, ">Tea<", ">Coffee<", "/static/result.js") {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
		})
	}
}

func TestAPITally(t *testing.T) {
	s := newServer(t)
	at := time.Date(2026, 11, 26, 19, 30, 0, 123e6, time.UTC)
	s.view.Offer(tally.New(42, map[string]int64{"a": 10, "b": 7}, at))
	code, body := s.get(t, "/api/tally")
	want := `{"version":42,"counts":{"a":10,"b":7},"total":17,"updated_at":"2026-11-26T19:30:00.123Z"}`
	if code != 200 || body != want {
		t.Errorf("got %d %s, want 200 %s", code, body, want)
	}
}

func TestWebSocketEndpoint(t *testing.T) {
	s := newServer(t)
	s.view.Offer(tally.New(1, map[string]int64{"a": 1}, time.Now()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.app.Listener(ln) }()
	defer s.app.Shutdown()

	resp, err := http.Get("http://" + ln.Addr().String() + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET /ws: got %d, want 426", resp.StatusCode)
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() tally.Tally {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.TextMessage {
			t.Errorf("message type %d, want text", typ)
		}
		var got tally.Tally
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("message %s: %v", b, err)
		}
		return got
	}
	if got := read(); got.Version != 1 || got.Counts["a"] != 1 {
		t.Errorf("first message %+v, want the current tally (version 1)", got)
	}
	s.view.Offer(tally.New(2, map[string]int64{"a": 1, "b": 1}, time.Now()))
	if got := read(); got.Version != 2 || got.Total != 2 {
		t.Errorf("second message %+v, want version 2", got)
	}
	// A shutdown closes the socket with a close frame.
	s.hub.Close(time.Second)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after shutdown got %v, want a going-away close frame", err)
	}
}

func TestHealthAndAssets(t *testing.T) {
	s := newServer(t)
	for _, tt := range []struct {
		path, want string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", `"status":"ready"`, 200},
		{"/metrics", "result_websocket_clients", 200},
		{"/static/tally.js", "LiveTally", 200},
		{"/static/result.js", "/ws", 200},
		{"/static/style.css", ".percent", 200},
		{"/static/missing.css", "", 404},
	} {
		code, body := s.get(t, tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: got %d, want %d containing %q", tt.path, code, tt.code, tt.want)
		}
	}
}
