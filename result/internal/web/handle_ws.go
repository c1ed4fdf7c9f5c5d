package web

import (
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// handleWS upgrades to a WebSocket and hands the connection to the hub,
// which sends the poll's current tally, then each newer one. An unknown
// poll is refused before the upgrade.
func handleWS(s *server) fiber.Handler {
	upgrade := websocket.New(func(c *websocket.Conn) {
		id, _ := c.Locals("poll").(string)
		s.Hub.Serve(c.Conn, id)
	})
	return func(c *fiber.Ctx) error {
		// Loading makes the hub hold the poll before the client joins it.
		p, _, _, err := s.load(c)
		if err != nil {
			return s.apiError(c, err)
		}
		if !websocket.IsWebSocketUpgrade(c) {
			return c.Status(fiber.StatusUpgradeRequired).SendString("this is a WebSocket endpoint\n")
		}
		c.Locals("poll", p.ID)
		return upgrade(c)
	}
}
