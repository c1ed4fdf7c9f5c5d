package web

import (
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"livevote/shared/clientaddr"
	"livevote/shared/fiberops"
)

// handleWS upgrades to a WebSocket and hands the connection to the hub,
// which sends the poll's current tally, then each newer one. A page of a
// foreign origin, a client over the caps on live sockets and an unknown
// poll are refused before the upgrade.
//
// The upgrade is fasthttp/websocket's own: Fiber's WebSocket middleware
// copies every request header, cookie, query argument and local into maps
// that each connection keeps for its life (about 1.5 KB a client), for
// nothing the hub uses.
func handleWS(s *server) fiber.Handler {
	upgrader := fastws.FastHTTPUpgrader{
		// Clients send only pongs, pings and close frames (the hub's read
		// limit is 512 bytes): a small read buffer is enough; 128 is the
		// least the library takes (a control frame's payload).
		ReadBufferSize: 128,
		// The hub writes frames of its own to the connection under the
		// library's; a pool means an idle client holds no write buffer.
		WriteBufferPool: &wsWriteBuffers,
		// Checked below, before the poll is loaded (originAllowed).
		CheckOrigin: func(*fasthttp.RequestCtx) bool { return true },
	}
	return func(c *fiber.Ctx) error {
		if !s.originAllowed(c.Get(fiber.HeaderOrigin), fiberops.Host(c)) {
			s.wsRefused.WithLabelValues("origin").Inc()
			return c.Status(fiber.StatusForbidden).SendString("refused: pages of this origin may not open the WebSocket\n")
		}
		// The client's address: the connection's, or behind a trusted
		// proxy (TRUSTED_PROXIES) the one it forwards; an IPv6 client by
		// its /64. Checked before the poll is loaded, so that a client
		// over a cap costs no database query.
		addr := clientaddr.Key(fiberops.ClientAddr(c, s.cfg.TrustedProxies))
		if why := s.limit.full(addr); why != "" {
			s.wsRefused.WithLabelValues(why).Inc()
			c.Set(fiber.HeaderRetryAfter, "5")
			return c.Status(fiber.StatusServiceUnavailable).SendString("too many live connections; try again shortly\n")
		}
		// Loading makes the hub hold the poll before the client joins it.
		p, _, _, err := s.load(c)
		if err != nil {
			return s.apiError(c, err)
		}
		if !fastws.FastHTTPIsWebSocketUpgrade(c.Context()) {
			return c.Status(fiber.StatusUpgradeRequired).SendString("this is a WebSocket endpoint\n")
		}
		// The connection outlives the request: its values are copied.
		id, addr := strings.Clone(p.ID), strings.Clone(addr)
		err = upgrader.Upgrade(c.Context(), func(conn *fastws.Conn) {
			if why := s.limit.join(addr); why != "" {
				// Another handshake of the same moment took the last slot.
				s.wsRefused.WithLabelValues(why).Inc()
				_ = conn.WriteControl(fastws.CloseMessage,
					fastws.FormatCloseMessage(fastws.CloseTryAgainLater, "too many live connections; try again shortly"), time.Now().Add(time.Second))
				return
			}
			defer s.limit.leave(addr)
			s.Hub.Serve(newWSConn(conn), id)
		})
		if err != nil {
			return fiber.ErrUpgradeRequired
		}
		return nil
	}
}

// wsWriteBuffers lends the WebSocket connections their write buffers
// (of the default size) only while they write through one.
var wsWriteBuffers sync.Pool

// wsConn is a WebSocket connection as the hub uses it: read through the
// library, written to (whole frames the hub made) on the TCP connection
// under it, where a write can be tried without waiting.
type wsConn struct {
	*fastws.Conn
	raw net.Conn
	// sc tries writes without waiting; nil when the connection does not
	// offer its descriptor, and every write then waits (TryWrite takes
	// nothing, so the hub writes from a goroutine of the client's own).
	// That is correct but costs a goroutine per client per tally: a TLS
	// listener in this server would need its own non-blocking path; today
	// TLS ends at the proxy in front, and the connection is plain TCP.
	sc syscall.RawConn
	// The one try under way (the hub never tries two writes of a client
	// at once): its bytes, result and the function sc runs, made once, so
	// that a try allocates nothing.
	try   []byte
	tried int
	errno error
	tryFn func(fd uintptr) bool
}

func newWSConn(conn *fastws.Conn) *wsConn {
	c := &wsConn{Conn: conn, raw: conn.NetConn()}
	// fasthttp hands a hijacked connection over in a wrapper that reads
	// what it had buffered first; writes go to the one it wraps.
	if u, ok := c.raw.(interface{ UnsafeConn() net.Conn }); ok {
		c.raw = u.UnsafeConn()
	}
	if s, ok := c.raw.(syscall.Conn); ok {
		if sc, err := s.SyscallConn(); err == nil {
			c.sc = sc
			c.tryFn = c.writeFD
		}
	}
	c.muteLibrary()
	return c
}

// muteLibrary makes every later write of the WebSocket library fail at
// once, without touching the socket. The hub writes every frame itself;
// the library would still write a close frame from inside ReadMessage
// after a client's protocol error or an oversized message (and echo a
// close, which the hub's close handler answers instead), blocking with
// the socket's write lock held for up to a second when the client does
// not read, while the hub's writer waits on that lock (an attacker's way
// to stall every client of a writer). A library write that fails at the
// socket is final for it (it keeps the error and returns it from then on
// without writing), so one is made to fail: the library's write deadline
// is set in the past, the write fails before a byte goes out, and the
// socket's deadline is cleared again for the hub.
func (c *wsConn) muteLibrary() {
	_ = c.Conn.SetWriteDeadline(time.Unix(1, 0))
	_ = c.Conn.WriteMessage(fastws.BinaryMessage, nil)
	_ = c.raw.SetWriteDeadline(time.Time{})
}

// TryWrite writes what the socket takes of b now: one write(2) on the
// non-blocking socket, no waiting for it to drain.
func (c *wsConn) TryWrite(b []byte) (int, error) {
	if c.sc == nil {
		return 0, nil
	}
	c.try = b
	err := c.sc.Write(c.tryFn)
	n, errno := c.tried, c.errno
	c.try, c.errno = nil, nil
	switch {
	case err != nil:
		return 0, err // closed, or past the write deadline
	case errno == syscall.EAGAIN:
		return 0, nil
	case errno != nil:
		return 0, errno
	}
	return max(n, 0), nil
}

// writeFD is TryWrite's one write, run by the connection with its
// descriptor; true: done either way, never wait for the socket.
func (c *wsConn) writeFD(fd uintptr) bool {
	for {
		c.tried, c.errno = syscall.Write(int(fd), c.try)
		if c.errno != syscall.EINTR {
			return true
		}
	}
}

// Write writes all of b, waiting for the socket up to the write deadline.
func (c *wsConn) Write(b []byte) (int, error) { return c.raw.Write(b) }

// SetWriteDeadline sets the deadline of the hub's writes, which go to the
// TCP connection, not through the library.
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// originAllowed reports whether a browser page of origin may open the
// WebSocket of this server, which it reached at host (the Host header).
// Browsers always send Origin with a WebSocket handshake and pages cannot
// change it, so a foreign page cannot read the live tallies through its
// visitors; programs send none and are served. With WS_ORIGINS unset, a
// page of the host the browser connected to may connect from any port (the
// vote page on :8080); set, only the listed origins may.
func (s *server) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	o, err := fiberops.ParseOrigin(origin)
	if err != nil {
		return false // "null" and anything malformed
	}
	if s.cfg.WSOrigins == nil {
		return o.SameHost(host)
	}
	for _, allowed := range s.cfg.WSOrigins {
		if o == allowed {
			return true
		}
	}
	return false
}
