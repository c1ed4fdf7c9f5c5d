package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/fiberops"
	"livevote/shared/poll"
)

func routes(app *fiber.App, d *deps, reg *prometheus.Registry) {
	small := limitBody(maxBody)

	// First, to count and time every answer, by route pattern.
	app.Use(fiberops.RequestMetrics(reg))
	app.Use(fiberops.Forwarded(d.cfg.TrustedProxies))

	// Every answer carries the security headers; the pages may connect to
	// the result server's WebSocket. Cross-site posts stop before any
	// handler.
	app.Use(fiberops.SecurityHeaders(func(c *fiber.Ctx) []string {
		return []string{fiberops.SocketOrigin(d.resultBase(c))}
	}))
	app.Use(refuseCrossSite(d))

	// Version 1's routes: the default poll.
	app.Get("/", handlePage(d))
	app.Post("/", small, handleFormVote(d))
	app.Post("/api/vote", small, handleAPIVote(d))

	// Pages of every poll (the default one at /p/default too).
	app.Get("/new", handleNewPage(d))
	app.Post("/new", handleNewPoll(d))
	app.Get("/p/:id", handlePage(d))
	app.Post("/p/:id", small, handleFormVote(d))
	app.Get("/p/:id/manage", handleManagePage(d))
	app.Post("/p/:id/manage", small, handleManage(d))
	app.Get("/p/:id/qr.svg", handleQR(d))

	// The poll API.
	app.Post("/api/polls", handleCreatePoll(d))
	app.Get("/api/polls/:id", handleGetPoll(d))
	app.Post("/api/polls/:id/votes", small, handleAPIVote(d))
	app.Post("/api/polls/:id/close", small, handleSetState(d, poll.StateClosed))
	app.Post("/api/polls/:id/reopen", small, handleSetState(d, poll.StateOpen))

	app.Get("/static/:name", fiberops.Static(staticFS, "static"))
	app.Get("/healthz", fiberops.Healthz())
	app.Get("/readyz", fiberops.Readyz(d.monitor))
	app.Get("/metrics", fiberops.Metrics(reg))
}
