package web

import (
	"io/fs"
	"path"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/health"
	"livevote/shared/tally"
)

func handleHealthz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		return c.SendString("ok\n")
	}
}

// handleReadyz probes PostgreSQL and NATS now: 200 when both answer and the
// tally is loaded, else 503 naming the one that does not.
func handleReadyz(m *health.Monitor) fiber.Handler {
	return func(c *fiber.Ctx) error {
		st := m.Probe(c.UserContext())
		code := fiber.StatusOK
		if !st.Ready() {
			code = fiber.StatusServiceUnavailable
		}
		c.Type("json")
		return c.Status(code).Send(st.JSON())
	}
}

// handleStatic serves the embedded assets and the shared tally client.
func handleStatic() fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := c.Params("name")
		var body []byte
		if name == "tally.js" {
			body = tally.ClientJS
		} else {
			b, err := fs.ReadFile(staticFS, path.Join("static", path.Base(name)))
			if err != nil {
				return fiber.ErrNotFound
			}
			body = b
		}
		c.Type(path.Ext(name), "utf-8")
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(body)
	}
}
