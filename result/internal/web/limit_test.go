package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"livevote/shared/poll"
)

// TestLimiter: the caps hold, a leave frees a slot, and an address
// without clients is forgotten.
func TestLimiter(t *testing.T) {
	l := newLimiter(3, 2)
	steps := []struct {
		op, addr, want string
	}{
		{"join", "a", ""},
		{"join", "a", ""},
		{"full", "a", refusedMaxPerAddress},
		{"join", "a", refusedMaxPerAddress},
		{"full", "b", ""},
		{"join", "b", ""},
		{"full", "c", refusedMaxClients},
		{"join", "c", refusedMaxClients},
		{"leave", "a", ""},
		{"join", "c", ""},
		{"leave", "a", ""},
		{"leave", "b", ""},
		{"leave", "c", ""},
	}
	for i, st := range steps {
		var got string
		switch st.op {
		case "join":
			got = l.join(st.addr)
		case "full":
			got = l.full(st.addr)
		case "leave":
			l.leave(st.addr)
		}
		if got != st.want {
			t.Errorf("step %d %s(%s): got %q, want %q", i, st.op, st.addr, got, st.want)
		}
	}
	if l.total != 0 || len(l.byAddr) != 0 {
		t.Errorf("after every client left: got total %d and %d addresses, want 0 and 0", l.total, len(l.byAddr))
	}
}

// listen serves s on a loopback port and returns the WebSocket URL of the
// default poll.
func listen(t *testing.T, s *testServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.app.Listener(ln) }()
	t.Cleanup(func() { _ = s.app.Shutdown() })
	return "ws://" + ln.Addr().String() + "/ws?poll=" + poll.DefaultID
}

// dialFrom opens a WebSocket from the loopback address local.
func dialFrom(local, url string) (*websocket.Conn, *http.Response, error) {
	d := *websocket.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return nd.DialContext(ctx, network, addr)
	}
	return d.Dial(url, nil)
}

// admitted dials and reads the first message, which the server sends only
// after it counted the client.
func admitted(t *testing.T, local, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := dialFrom(local, url)
	if err != nil {
		t.Fatalf("dial from %s: got %v, want the upgrade", local, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatalf("first message from %s: %v, want the tally", local, err)
	}
	return conn
}

// refused dials and wants the 503 with Retry-After before the upgrade.
func refused(t *testing.T, local, url string) {
	t.Helper()
	conn, resp, err := dialFrom(local, url)
	if err == nil {
		conn.Close()
		t.Fatalf("dial from %s: got the upgrade, want 503", local)
	}
	if resp == nil {
		t.Fatalf("dial from %s: got %v, want 503", local, err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
		!strings.Contains(string(b), "too many live connections") {
		t.Errorf("dial from %s: got %d, Retry-After %q, %q; want 503, Retry-After 5, too many live connections",
			local, resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
}

func (s *testServer) wantMetric(t *testing.T, want string) {
	t.Helper()
	if m := s.get(t, "/metrics"); !strings.Contains(m.body, want+"\n") {
		t.Errorf("metrics lack %s", want)
	}
}

// TestWebSocketPerAddressCap: an address at its cap is refused before the
// upgrade (counted), another address is not, and a closed socket frees
// its slot.
func TestWebSocketPerAddressCap(t *testing.T) {
	s := newServer(t, map[string]string{"WS_MAX_CLIENTS_PER_ADDRESS": "2"})
	url := listen(t, s)
	first := admitted(t, "127.0.0.1", url)
	admitted(t, "127.0.0.1", url)
	refused(t, "127.0.0.1", url)
	s.wantMetric(t, `result_websocket_refused_total{reason="max_per_address"} 1`)
	s.wantMetric(t, `result_websocket_refused_total{reason="max_clients"} 0`)
	admitted(t, "127.0.0.2", url) // another address has its own slots

	first.Close()
	// The server frees the slot once it notices the close: retry shortly,
	// as Retry-After says.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, resp, err := dialFrom("127.0.0.1", url)
		if err == nil {
			conn.Close()
			break
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after closing one socket: got %v %v, want the upgrade", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebSocketTotalCap: at WS_MAX_CLIENTS every address is refused.
func TestWebSocketTotalCap(t *testing.T) {
	s := newServer(t, map[string]string{"WS_MAX_CLIENTS": "2"})
	url := listen(t, s)
	admitted(t, "127.0.0.1", url)
	admitted(t, "127.0.0.2", url)
	refused(t, "127.0.0.3", url)
	refused(t, "127.0.0.1", url)
	s.wantMetric(t, `result_websocket_refused_total{reason="max_clients"} 2`)
	s.wantMetric(t, `result_websocket_refused_total{reason="max_per_address"} 0`)
}
