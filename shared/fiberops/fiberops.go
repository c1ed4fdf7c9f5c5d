// Package fiberops holds the routes every Fiber server of the system serves
// the same way: /healthz, /readyz, /metrics and the embedded static files.
package fiberops

import (
	"io/fs"
	"path"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"livevote/shared/health"
	"livevote/shared/tally"
)

// Healthz answers 200 while the process runs.
func Healthz() fiber.Handler {
	return func(c *fiber.Ctx) error {
		return c.SendString("ok\n")
	}
}

// Readyz probes every dependency now: 200 when all answer, else 503 with
// JSON naming the first that does not.
func Readyz(m *health.Monitor) fiber.Handler {
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

// Metrics serves reg in the Prometheus text format.
func Metrics(reg *prometheus.Registry) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
}

// Static serves the files of dir in fsys by the route parameter :name, and
// the shared tally client as tally.js.
func Static(fsys fs.FS, dir string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := path.Base(c.Params("name"))
		var body []byte
		if name == "tally.js" {
			body = tally.ClientJS
		} else {
			b, err := fs.ReadFile(fsys, path.Join(dir, name))
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
