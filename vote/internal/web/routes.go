package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func routes(app *fiber.App, d *deps, reg *prometheus.Registry) {
	app.Get("/", handlePage(d))
	app.Post("/", handleFormVote(d))
	app.Post("/api/vote", handleAPIVote(d))
	app.Get("/static/:name", handleStatic())
	app.Get("/healthz", handleHealthz())
	app.Get("/readyz", handleReadyz(d.monitor))
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
}
