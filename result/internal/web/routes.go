package web

import (
	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
)

func routes(app *fiber.App, s *server) {
	// Every answer carries the security headers; the pages connect to this
	// server's own WebSocket only. The presenter view may be framed by the
	// origins an operator lists (slides).
	app.Use(fiberops.SecurityHeaders(func(c *fiber.Ctx) []string {
		return []string{fiberops.SelfSocketOrigin(c)}
	}))
	app.Get("/", handleResults(s))
	app.Get("/p/:id", handleResults(s))
	app.Get("/p/:id/present", fiberops.AllowFraming(s.cfg.PresentFrameAncestors), handlePresent(s))
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
