// Package web is the vote server's HTTP side: the vote page, the vote API,
// health and metrics.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/ballot"
	"livevote/shared/health"
	"livevote/vote/internal/config"
)

// Queue holds accepted votes until a worker records them.
type Queue interface {
	Append(ctx context.Context, voterID, option string) (string, error)
}

// maxBody is the largest request body accepted; anything larger is a 413.
const maxBody = 4 << 10

// appendTimeout bounds how long a vote waits for Redis before a 503.
const appendTimeout = 3 * time.Second

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// deps is what the handlers share.
type deps struct {
	logger    *slog.Logger
	cfg       config.Config
	queue     Queue
	monitor   *health.Monitor
	page      *template.Template
	hostname  string
	socketURL string
	metrics   *metrics
}

// NewServer returns the vote server's Fiber app. Templates are parsed here,
// so a broken one stops the start rather than a request.
func NewServer(logger *slog.Logger, cfg config.Config, queue Queue, monitor *health.Monitor, reg *prometheus.Registry) (*fiber.App, error) {
	page, err := template.ParseFS(templateFS, "templates/index.html")
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	d := &deps{
		logger:    logger,
		cfg:       cfg,
		queue:     queue,
		monitor:   monitor,
		page:      page,
		hostname:  host,
		socketURL: cfg.TallySocketURL(),
		metrics:   newMetrics(reg),
	}
	app := fiber.New(fiber.Config{
		AppName:               "vote",
		BodyLimit:             maxBody,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ErrorHandler:          errorHandler(logger),
	})
	routes(app, d, reg)
	return app, nil
}

// errorHandler answers errors that no handler wrote: unknown routes, wrong
// methods, bodies over the limit. The API gets JSON, pages plain text.
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		code := fiber.StatusInternalServerError
		msg := "internal error"
		var fe *fiber.Error
		if errors.As(err, &fe) {
			code, msg = fe.Code, fe.Message
		}
		if code == fiber.StatusRequestEntityTooLarge {
			msg = "request body over 4 KiB"
		}
		if code >= 500 {
			logger.Error("request failed", "method", c.Method(), "path", c.Path(), "error", err)
		}
		if strings.HasPrefix(c.Path(), "/api/") {
			return c.Status(code).JSON(errorBody{Error: msg})
		}
		return c.Status(code).SendString(msg)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

// voterID returns the voter's id from the voter_id cookie, or a fresh one
// that it sets as the cookie when there is none or it is malformed.
func voterID(c *fiber.Ctx) string {
	if id := c.Cookies(voterCookie); ballot.ValidVoterID(id) {
		return id
	}
	id := ballot.NewVoterID()
	setCookie(c, voterCookie, id)
	return id
}

const (
	voterCookie  = "voter_id"
	choiceCookie = "vote"
)

func setCookie(c *fiber.Ctx, name, value string) {
	c.Cookie(&fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   365 * 24 * 60 * 60,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
		Secure:   c.Protocol() == "https",
	})
}

// record appends a vote; only once Redis holds it may the caller answer 2xx.
func (d *deps) record(c *fiber.Ctx, voter, option string) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), appendTimeout)
	defer cancel()
	start := time.Now()
	_, err := d.queue.Append(ctx, voter, option)
	d.metrics.appendSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		d.metrics.rejected.WithLabelValues("unavailable").Inc()
		d.logger.Warn("vote not recorded", "error", err)
		return err
	}
	d.metrics.accepted.WithLabelValues(option).Inc()
	// Remembered in the browser so a returning voter sees their choice.
	if c.Cookies(choiceCookie) != option {
		setCookie(c, choiceCookie, option)
	}
	return nil
}

// unavailableMsg is what a voter is told when Redis does not take the vote.
const unavailableMsg = "vote not recorded: the vote queue (Redis) is unavailable; please try again"
