package web

import (
	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
)

func routes(app *fiber.App, s *server) {
	app.Get("/", handleResults(s))
	app.Get("/p/:id", handleResults(s))
	app.Get("/p/:id/present", handlePresent(s))
	app.Get("/p/:id/qr.png", handleQR(s))
	app.Get("/api/tally", handleTally(s))
	app.Get("/api/polls/:id/tally", handleTally(s))
	app.Get("/api/polls/:id/results.csv", handleCSV(s))
	app.Get("/ws", handleWS(s))
	app.Get("/static/:name", fiberops.Static(staticFS, "static"))
	app.Get("/healthz", fiberops.Healthz())
	app.Get("/readyz", fiberops.Readyz(s.Monitor))
	app.Get("/metrics", fiberops.Metrics(s.Registry))
}
