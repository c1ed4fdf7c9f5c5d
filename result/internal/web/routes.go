package web

import (
	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
)

func routes(app *fiber.App, s *server) {
	// First, to count and time every answer, by route pattern.
	app.Use(fiberops.RequestMetrics(s.Registry))
	app.Use(fiberops.Forwarded(s.cfg.TrustedProxies))
	// Every answer carries the security headers; the pages connect to this
	// server's own WebSocket only. The presenter view may be framed by the
	// origins an operator lists (slides).
	app.Use(fiberops.SecurityHeaders(func(c *fiber.Ctx) []string {
		return []string{fiberops.SelfSocketOrigin(c)}
	}))
	// Behind a proxy that serves this server under a path of one origin
	// (RESULT_PATH_PREFIX), every page, API route and the WebSocket move
	// there; health and metrics stay at the root for probes and scrapers.
	pages := app.Group(s.cfg.PathPrefix)
	pages.Get("/", handleResults(s))
	pages.Get("/p/:id", handleResults(s))
	pages.Get("/p/:id/present", fiberops.AllowFraming(s.cfg.PresentFrameAncestors), handlePresent(s))
	pages.Get("/p/:id/qr.png", handleQR(s))
	pages.Get("/api/tally", handleTally(s))
	pages.Get("/api/polls/:id/tally", handleTally(s))
	pages.Get("/api/polls/:id/results.csv", handleCSV(s))
	pages.Get("/ws", handleWS(s))
	pages.Get("/static/:name", fiberops.Static(staticFS, "static"))
	app.Get("/healthz", fiberops.Healthz())
	app.Get("/readyz", fiberops.Readyz(s.Monitor))
	app.Get("/metrics", fiberops.Metrics(s.Registry))
}
