package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func routes(app *fiber.App, d *deps, hub Hub, reg *prometheus.Registry) {
	app.Get("/", handlePage(d))
	app.Get("/api/tally", handleTally(d.view))
	app.Get("/ws", handleWS(hub))
	app.Get("/static/:name", handleStatic())
	app.Get("/healthz", handleHealthz())
	app.Get("/readyz", handleReadyz(d.monitor))
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
}
