// Package fiberops holds the routes every server of the system serves the
// same way: /healthz, /readyz, /metrics (the handlers of health and
// opsmetrics, which the worker's net/http server serves as they are), the embedded static files,
// the peer server's URL and the page's language.
package fiberops

import (
	"io/fs"
	"path"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/health"
	"livevote/shared/opsmetrics"
	"livevote/shared/tally"
)

// Healthz answers 200 while the process runs (health.LiveHandler, the
// same handler the worker serves).
func Healthz() fiber.Handler {
	return adaptor.HTTPHandler(health.LiveHandler())
}

// Readyz probes every dependency now: 200 when all answer, else 503 with
// JSON naming the first that does not (health.Monitor.Answer). It probes
// with the app's context, not the request's: fasthttp's request context
// must not outlive the request, and a probe's timers might.
func Readyz(m *health.Monitor) fiber.Handler {
	return func(c *fiber.Ctx) error {
		code, body := m.Answer(c.UserContext())
		c.Type("json")
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(code).Send(body)
	}
}

// Metrics serves reg in the Prometheus text format (opsmetrics.Handler).
func Metrics(reg *prometheus.Registry) fiber.Handler {
	return adaptor.HTTPHandler(opsmetrics.Handler(reg))
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
