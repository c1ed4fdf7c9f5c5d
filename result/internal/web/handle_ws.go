package web

import (
	"sync"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"livevote/shared/clientaddr"
	"livevote/shared/fiberops"
)

// handleWS upgrades to a WebSocket and hands the connection to the hub,
// which sends the poll's current tally, then each newer one. A page of a
// foreign origin, a client over the caps on live sockets and an unknown
// poll are refused before the upgrade.
func handleWS(s *server) fiber.Handler {
	upgrade := websocket.New(func(c *websocket.Conn) {
		id, _ := c.Locals("poll").(string)
		addr, _ := c.Locals("addr").(string)
		if why := s.limit.join(addr); why != "" {
			// Another handshake of the same moment took the last slot.
			s.wsRefused.WithLabelValues(why).Inc()
			_ = c.WriteControl(fastws.CloseMessage,
				fastws.FormatCloseMessage(fastws.CloseTryAgainLater, "too many live connections; try again shortly"), time.Now().Add(time.Second))
			return
		}
		defer s.limit.leave(addr)
		s.Hub.Serve(c.Conn, id)
	}, websocket.Config{
		// Clients send only pongs and close frames (the hub's read limit
		// is 512 bytes): a small read buffer is enough; 128 is the least
		// the library takes (a control frame's payload).
		ReadBufferSize: 128,
		// The hub writes prepared messages and control frames, which go
		// to the socket without the write buffer; a pool means an idle
		// client holds none.
		WriteBufferPool: &wsWriteBuffers,
	})
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
		if !websocket.IsWebSocketUpgrade(c) {
			return c.Status(fiber.StatusUpgradeRequired).SendString("this is a WebSocket endpoint\n")
		}
		c.Locals("poll", p.ID)
		c.Locals("addr", addr)
		return upgrade(c)
	}
}

// wsWriteBuffers lends the WebSocket connections their write buffers
// (of the default size) only while they write through one.
var wsWriteBuffers sync.Pool

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
