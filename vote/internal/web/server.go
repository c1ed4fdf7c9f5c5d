// Package web is the vote server's HTTP side: the poll pages (vote, create,
// manage), the vote and poll API, health and metrics.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/fiberops"
	"livevote/shared/health"
	"livevote/shared/logging"
	"livevote/shared/poll"
	"livevote/vote/internal/config"
	"livevote/vote/internal/pollcache"
	"livevote/vote/internal/votequeue"
)

// Store is the Redis side the handlers need: the vote stream and the poll
// copies beside it (votequeue.Queue). Its refusals are votequeue's
// ErrNoPoll, ErrPollClosed and ErrTaken; any other error means Redis did
// not answer.
type Store interface {
	Append(ctx context.Context, pollID, voterID, option string) (string, error)
	Create(ctx context.Context, rec poll.Record) error
	SetState(ctx context.Context, pollID, state string) (bool, error)
	Load(ctx context.Context, pollID string) (votequeue.Copy, error)
}

// Body limits: 4 KiB for a vote or a close, 16 KiB to create a poll.
const (
	maxBody       = 4 << 10
	maxCreateBody = 16 << 10
)

// redisTimeout bounds how long a request waits for Redis before a 503.
const redisTimeout = 3 * time.Second

// cachedPolls bounds the poll definitions kept in memory (each a few
// hundred bytes).
const cachedPolls = 20000

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// deps is what the handlers share.
type deps struct {
	logger      *slog.Logger
	cfg         config.Config
	store       Store
	voters      Voters
	limits      Limiter
	monitor     *health.Monitor
	pages       map[string]*template.Template
	polls       *pollcache.Cache
	defaultPoll poll.Poll
	hostname    string
	metrics     *metrics
	// refusals keeps a dependency failure that every vote hits to a line
	// a second (the metrics count every one).
	refusals *logging.Sampler
}

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"vote", "new", "manage", "message"}

// parsePages parses every page with the layout, so a broken template stops
// the start rather than a request.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"t":   catalog.T,
		"inc": func(i int) int { return i + 1 },
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// NewServer returns the vote server's Fiber app: votes go to store, voter
// ids are signed with voters' key, and limits counts new voters and votes
// per client address.
func NewServer(logger *slog.Logger, cfg config.Config, store Store, voters Voters, limits Limiter, monitor *health.Monitor, reg *prometheus.Registry) (*fiber.App, error) {
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	d := &deps{
		logger:      logger,
		cfg:         cfg,
		store:       store,
		voters:      voters,
		limits:      limits,
		monitor:     monitor,
		pages:       pages,
		polls:       pollcache.New(cachedPolls),
		defaultPoll: cfg.DefaultPoll(),
		hostname:    host,
		metrics:     newMetrics(reg),
		refusals:    &logging.Sampler{Every: time.Second},
	}
	fcfg := fiber.Config{
		AppName: "vote",
		// The largest body of any route; the others check their own
		// smaller limit (limitBody).
		BodyLimit:             maxCreateBody,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		ErrorHandler:          d.errorHandler,
	}
	fiberops.ProxyConfig(&fcfg)
	app := fiber.New(fcfg)
	routes(app, d, reg)
	return app, nil
}

// errorHandler answers errors that no handler wrote: unknown routes, wrong
// methods, bodies over the limit. The API gets JSON, pages a page.
func (d *deps) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	msg := "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
	}
	if code == fiber.StatusRequestEntityTooLarge {
		msg = "request body over 16 KiB"
	}
	if code >= 500 {
		d.logger.Error("request failed", "method", c.Method(), "path", c.Path(), "error", err)
	}
	if isAPI(c) || c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		if isAPI(c) {
			return c.Status(code).JSON(errorBody{Error: msg})
		}
		return c.Status(code).SendString(msg)
	}
	lang := fiberops.Lang(c)
	text := msg
	if code == fiber.StatusNotFound {
		text = catalog.T(lang, "page.missing")
	}
	return d.message(c, code, lang, catalog.T(lang, "bad.title"), text)
}

func isAPI(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") }

type errorBody struct {
	Error string `json:"error"`
}

// apiError answers an API request with {"error": msg}.
func apiError(c *fiber.Ctx, code int, msg string) error {
	return c.Status(code).JSON(errorBody{Error: msg})
}

// choiceCookie is the cookie that remembers the voter's choice in pollID,
// and its path: version 1's "vote" for the default poll, one per poll
// (under its pages) for the others.
func choiceCookie(pollID string) (name, path string) {
	if pollID == poll.DefaultID {
		return "vote", "/"
	}
	return "vote_" + pollID, "/p/" + pollID
}

func setCookie(c *fiber.Ctx, name, value, path string) {
	c.Cookie(&fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   365 * 24 * 60 * 60,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
		Secure:   fiberops.Scheme(c) == "https",
	})
}

// redisContext bounds a request's wait for Redis.
func redisContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), redisTimeout)
}

// definition returns pollID's definition: the default poll from the
// settings, others from the cache or else Redis (then cached: a definition
// never changes). votequeue.ErrNoPoll for an unknown or malformed id.
func (d *deps) definition(ctx context.Context, pollID string) (poll.Record, error) {
	if pollID == poll.DefaultID {
		return poll.Record{Poll: d.defaultPoll}, nil
	}
	if !poll.ValidID(pollID) {
		return poll.Record{}, votequeue.ErrNoPoll
	}
	if rec, ok := d.polls.Get(pollID); ok {
		return rec, nil
	}
	cp, err := d.store.Load(ctx, pollID)
	if err != nil {
		return poll.Record{}, err
	}
	d.polls.Put(cp.Record)
	return cp.Record, nil
}

// current returns pollID's definition with its state now, and the last
// tally Redis holds for it (nil when none). When Redis does not answer, a
// poll whose definition is cached comes back with an empty state.
func (d *deps) current(ctx context.Context, pollID string) (poll.Record, []byte, error) {
	if pollID == poll.DefaultID {
		rec := poll.Record{Poll: d.defaultPoll}
		// The default poll is always open; its stored tally is a bonus
		// for pages without JavaScript, so a failure is no error.
		cp, _ := d.store.Load(ctx, pollID)
		return rec, cp.Tally, nil
	}
	if !poll.ValidID(pollID) {
		return poll.Record{}, nil, votequeue.ErrNoPoll
	}
	cp, err := d.store.Load(ctx, pollID)
	switch {
	case err == nil:
		d.polls.Put(cp.Record)
		return cp.Record, cp.Tally, nil
	case errors.Is(err, votequeue.ErrNoPoll):
		return poll.Record{}, nil, err
	}
	if rec, ok := d.polls.Get(pollID); ok {
		rec.State = ""
		return rec, nil, nil
	}
	return poll.Record{}, nil, err
}

// resultBase is where the browser that made c reaches the result server.
func (d *deps) resultBase(c *fiber.Ctx) *url.URL {
	return fiberops.PeerURL(c, d.cfg.ResultURL, config.ResultPort)
}

// voteURL is the vote page of pollID at this server, as c reached it.
func voteURL(c *fiber.Ctx, pollID string) string {
	return fiberops.BaseURL(c) + "/p/" + pollID
}

// manageURL is the manage page of pollID with its token.
func manageURL(base, pollID, token string) string {
	return base + "/p/" + pollID + "/manage?" + url.Values{"token": {token}}.Encode()
}

// unavailableMsg is what an API client is told when Redis does not answer.
const unavailableMsg = "not recorded: the vote queue (Redis) is unavailable; please try again"

// fullMsg is what an API client is told when Redis refuses writes because
// it reached its memory limit (maxmemory with noeviction).
const fullMsg = "not recorded: the vote queue (Redis) is full; please try again in a minute"

// unreplicatedMsg is what an API client is told when fewer Redis replicas
// than REDIS_WAIT_REPLICAS acknowledged the write in time.
const unreplicatedMsg = "not acknowledged: too few Redis replicas hold it yet (REDIS_WAIT_REPLICAS); it may still be counted; please try again"
