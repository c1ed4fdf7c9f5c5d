package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/fiberops"
)

func routes(app *fiber.App, d *deps, reg *prometheus.Registry) {
	app.Get("/", handlePage(d))
	app.Post("/", handleFormVote(d))
	app.Post("/api/vote", handleAPIVote(d))
	app.Get("/static/:name", fiberops.Static(staticFS, "static"))
	app.Get("/healthz", fiberops.Healthz())
	app.Get("/readyz", fiberops.Readyz(d.monitor))
	app.Get("/metrics", fiberops.Metrics(reg))
}
