package web

import (
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// handleWS upgrades to a WebSocket and hands the connection to the hub,
// which sends the current tally, then each newer one.
func handleWS(h Hub) fiber.Handler {
	upgrade := websocket.New(func(c *websocket.Conn) {
		h.Serve(c.Conn)
	})
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return c.Status(fiber.StatusUpgradeRequired).SendString("this is a WebSocket endpoint\n")
		}
		return upgrade(c)
	}
}
