package web

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"livevote/result/internal/hub"
	"livevote/shared/tally"
)

// muteServer serves the hub's WebSocket for poll "p" on a listener of its
// own, the way the result server does. With ?fill=1 the server first
// fills the client's socket with frames the hub does not know of, as the
// last of its own tallies would have, so the hub's next write finds the
// socket full without having marked the client slow.
func muteServer(t *testing.T) (*hub.Hub, string) {
	t.Helper()
	h := hub.New(hub.NewMetrics(prometheus.NewRegistry()), "p")
	up := fastws.FastHTTPUpgrader{ReadBufferSize: 128, WriteBufferPool: &wsWriteBuffers,
		CheckOrigin: func(*fasthttp.RequestCtx) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		fill := string(ctx.QueryArgs().Peek("fill")) == "1"
		_ = up.Upgrade(ctx, func(conn *fastws.Conn) {
			wc := newWSConn(conn)
			if fill {
				fillSocket(t, wc)
			}
			h.Serve(wc, "p")
		})
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { h.Close(time.Second); _ = srv.Shutdown() })
	return h, ln.Addr().String()
}

// fillSocket writes text frames to c's socket, without waiting, until it
// takes no more, giving the kernel time to move what it can to the
// client's side (which never reads).
func fillSocket(t *testing.T, c *wsConn) {
	_ = c.sc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	f := append([]byte{0x81, 126, 0x03, 0xE8}, strings.Repeat("x", 1000)...)
	for still := 0; still < 3; {
		took := 0
		for {
			n, err := c.TryWrite(f)
			if err != nil {
				t.Errorf("filling the socket: %v", err)
				return
			}
			took += n
			if n < len(f) {
				break
			}
		}
		if took == 0 {
			still++
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// dialRaw opens the WebSocket over a bare TCP socket with a small receive
// buffer, for a client that misbehaves.
func dialRaw(t *testing.T, addr, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _ = io.WriteString(c, "GET /ws?"+query+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v, %v", resp, err)
	}
	return c, br
}

// maskedFrame is a client's frame of opcode op (masked, as clients must).
func maskedFrame(op byte, payload []byte) []byte {
	key := []byte{7, 1, 9, 3}
	b := []byte{0x80 | op, 0x80 | byte(len(payload))}
	b = append(b, key...)
	for i, p := range payload {
		b = append(b, p^key[i%4])
	}
	return b
}

func waitHubClients(t *testing.T, h *hub.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Clients() != n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if h.Clients() != n {
		t.Fatalf("%d clients, want %d", h.Clients(), n)
	}
}

// TestWebSocketLibraryNeverWrites: once the hub has a connection, only
// the hub writes to it. A protocol error (an unmasked frame) or an
// oversized message ends the connection without the library's close
// frame; a client's close is answered by the hub, with the client's code.
func TestWebSocketLibraryNeverWrites(t *testing.T) {
	h, addr := muteServer(t)
	for name, send := range map[string][]byte{
		"unmasked frame":    {0x81, 0x02, 'h', 'i'},
		"oversized message": maskedFrame(0x1, bytes.Repeat([]byte("x"), 120))[:2],
	} {
		t.Run(name, func(t *testing.T) {
			c, br := dialRaw(t, addr, "")
			if name == "oversized message" {
				// A text frame of 100,000 bytes announced (64-bit length).
				send = []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0x86, 0xA0, 1, 2, 3, 4}
			}
			if _, err := c.Write(send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(br)
			if len(got) > 0 {
				t.Errorf("the server wrote %x after the client's %s, want nothing (err %v)", got, name, err)
			}
		})
	}
	c, br := dialRaw(t, addr, "")
	if _, err := c.Write(maskedFrame(0x8, []byte{0x03, 0xE8})); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(br)
	if want := []byte{0x88, 0x02, 0x03, 0xE8}; !bytes.Equal(got, want) {
		t.Errorf("answer to a close 1000: %x, want the close frame %x alone", got, want)
	}
	waitHubClients(t, h, 0)
}

// TestWebSocketMisbehaverStallsNoOne: a client that reads nothing (its
// socket full) and then breaks the protocol does not hold up the tally of
// the clients written by the same writer.
func TestWebSocketMisbehaverStallsNoOne(t *testing.T) {
	h, addr := muteServer(t)
	bad, _ := dialRaw(t, addr, "fill=1")
	waitHubClients(t, h, 1)
	const n = 12
	var conns []*fastws.Conn
	for range n {
		c, _, err := fastws.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	waitHubClients(t, h, n+1)
	if _, err := bad.Write([]byte{0x81, 0x02, 'h', 'i'}); err != nil { // unmasked: a protocol error
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	h.Stored(map[string]tally.Tally{"p": tally.New("p", 1, []string{"a", "b"}, map[string]int64{"a": 1}, "", time.Unix(0, 0))}, true, time.Time{})
	var wg sync.WaitGroup
	slowest := make([]time.Duration, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := c.ReadMessage(); err != nil {
				t.Errorf("client %d: %v", i, err)
			}
			slowest[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, d := range slowest {
		if d > 400*time.Millisecond {
			t.Errorf("client %d got the tally after %v: held up by the misbehaving client", i, d)
		}
	}
}
