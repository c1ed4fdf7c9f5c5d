// Package web is the result server's HTTP side: the results and presenter
// pages of every poll, the tally and CSV API, the WebSocket, health and
// metrics.
package web

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/config"
	"livevote/result/internal/hub"
	"livevote/shared/fiberops"
	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

// Polls gives poll definitions.
type Polls interface {
	// Poll returns a definition, or an error wrapping polldb.ErrNotFound.
	Poll(ctx context.Context, id string) (poll.Poll, error)
}

// Tallies gives a poll's newest tally and its JSON encoding.
type Tallies interface {
	// Tally returns the tally, or an error wrapping feed.ErrUnknownPoll.
	Tally(ctx context.Context, id string) (tally.Tally, []byte, error)
}

// Hub serves the WebSocket clients of a poll.
type Hub interface {
	Serve(conn hub.Conn, pollID string)
}

// Deps is what the server's handlers use.
type Deps struct {
	Polls    Polls
	Tallies  Tallies
	Hub      Hub
	Monitor  *health.Monitor
	Registry *prometheus.Registry
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// server is what every handler shares.
type server struct {
	logger *slog.Logger
	cfg    config.Config
	Deps
	pages *template.Template
	// wsRefused counts WebSocket handshakes refused, by reason.
	wsRefused *prometheus.CounterVec
	// limit caps the live WebSocket clients, in all and per address.
	limit *limiter
}

// NewServer returns the result server's Fiber app. Templates are parsed
// here, so a broken one stops the start rather than a request.
func NewServer(logger *slog.Logger, cfg config.Config, d Deps) (*fiber.App, error) {
	pages, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &server{logger: logger, cfg: cfg, Deps: d, pages: pages,
		limit: newLimiter(cfg.WSMaxClients, cfg.WSMaxClientsPerAddress),
		wsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "result_websocket_refused_total",
			Help: "WebSocket handshakes refused before the upgrade, by reason (origin: a page outside WS_ORIGINS; max_clients: WS_MAX_CLIENTS reached; max_per_address: WS_MAX_CLIENTS_PER_ADDRESS reached for the client's address).",
		}, []string{"reason"}),
	}
	if err := d.Registry.Register(s.wsRefused); err != nil {
		return nil, err
	}
	// The series exist from the start.
	for _, why := range []string{"origin", refusedMaxClients, refusedMaxPerAddress} {
		s.wsRefused.WithLabelValues(why)
	}
	fcfg := fiber.Config{
		AppName:               "result",
		DisableStartupMessage: true,
		BodyLimit:             4 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		// Hands the connection's 4 KB read buffer back to the server's
		// pool once a request is read (when nothing more is buffered), so
		// a WebSocket, which keeps its connection for hours, does not hold
		// it for its whole life (issue 10: about 4.4 KB of the ~22 KB each
		// client cost).
		ReduceMemoryUsage: true,
	}
	fiberops.ProxyConfig(&fcfg)
	app := fiber.New(fcfg)
	routes(app, s)
	return app, nil
}
