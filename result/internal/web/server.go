// Package web is the result server's HTTP side: the results page, the
// tally API, the WebSocket, health and metrics.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/config"
	"livevote/result/internal/hub"
	"livevote/shared/health"
	"livevote/shared/tally"
)

// View is the newest tally.
type View interface {
	Current() (tally.Tally, []byte)
}

// Hub serves WebSocket clients.
type Hub interface {
	Serve(conn hub.Conn)
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type deps struct {
	logger  *slog.Logger
	cfg     config.Config
	view    View
	monitor *health.Monitor
	page    *template.Template
}

// NewServer returns the result server's Fiber app. Templates are parsed
// here, so a broken one stops the start rather than a request.
func NewServer(logger *slog.Logger, cfg config.Config, view View, hub Hub, monitor *health.Monitor, reg *prometheus.Registry) (*fiber.App, error) {
	page, err := template.ParseFS(templateFS, "templates/index.html")
	if err != nil {
		return nil, err
	}
	d := &deps{logger: logger, cfg: cfg, view: view, monitor: monitor, page: page}
	app := fiber.New(fiber.Config{
		AppName:               "result",
		DisableStartupMessage: true,
		BodyLimit:             4 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
	})
	routes(app, d, hub, reg)
	return app, nil
}
