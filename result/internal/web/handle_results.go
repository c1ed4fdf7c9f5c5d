package web

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"livevote/result/internal/config"
	"livevote/result/internal/feed"
	"livevote/result/internal/polldb"
	"livevote/shared/fiberops"
	"livevote/shared/i18n"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

// lookupTimeout bounds reading a poll and its tally for one request; an
// unknown poll is asked for again for about a second before the 404.
const lookupTimeout = 5 * time.Second

// pollID is the :id of the route, or the default poll on the routes of
// version 1 (/, /api/tally, /ws). It is copied: Fiber's strings point into
// a buffer the next request reuses, and the id may become a map key.
func pollID(c *fiber.Ctx) string {
	if id := c.Params("id"); id != "" {
		return strings.Clone(id)
	}
	if id := c.Query("poll"); id != "" {
		return strings.Clone(id)
	}
	return poll.DefaultID
}

// errNotFound is what the handlers answer 404 for.
func isNotFound(err error) bool {
	return errors.Is(err, polldb.ErrNotFound) || errors.Is(err, feed.ErrUnknownPoll)
}

// load reads the poll of the request and its newest tally.
func (s *server) load(c *fiber.Ctx) (poll.Poll, tally.Tally, []byte, error) {
	ctx, cancel := context.WithTimeout(c.UserContext(), lookupTimeout)
	defer cancel()
	id := pollID(c)
	p, err := s.Polls.Poll(ctx, id)
	if err != nil {
		return poll.Poll{}, tally.Tally{}, nil, err
	}
	t, b, err := s.Tallies.Tally(ctx, id)
	if err != nil {
		return poll.Poll{}, tally.Tally{}, nil, err
	}
	return p, t, b, nil
}

// pageOption is one option as a page shows it.
type pageOption struct {
	ID, Label string
	Percent   int
	Count     int64
}

// langLink is one entry of the language switch.
type langLink struct {
	Code, Name, URL string
	Current         bool
}

// siteChrome is what every page's header shows: the language switch and
// the links to the vote server, where polls are made.
type siteChrome struct {
	Lang  string
	Langs []langLink
	// Base is the path prefix of this server's own links (RESULT_PATH_PREFIX).
	Base string
	// HomeURL and NewURL are the vote server's home and new-poll pages.
	HomeURL, NewURL string
}

// T returns the text of key in the page's language.
func (s siteChrome) T(key string, args ...any) string { return catalog.T(s.Lang, key, args...) }

// newChrome builds the header of a page answering c.
func newChrome(c *fiber.Ctx, cfg config.Config) siteChrome {
	lang := fiberops.Lang(c)
	home := fiberops.PeerURL(c, cfg.VoteURL, config.VotePort)
	home.RawQuery, home.Fragment = "", ""
	base := strings.TrimRight(home.Path, "/")
	home.Path = base + "/"
	newPoll := *home
	newPoll.Path = base + "/new"
	sc := siteChrome{Lang: lang, Base: cfg.PathPrefix, HomeURL: home.String(), NewURL: newPoll.String()}
	for _, l := range i18n.Languages {
		sc.Langs = append(sc.Langs, langLink{Code: l, Name: langNames[l], URL: c.Path() + "?lang=" + l, Current: l == lang})
	}
	return sc
}

// page is what the templates render.
type page struct {
	siteChrome
	Poll    poll.Poll
	Options []pageOption
	Total   string
	Version int64
	State   string
	// Words are the totals' wording for the page script, "%d" for the number.
	WordsNone, WordsOne, WordsMany string
	VoteURL, VoteHost, VotePath    string
	// SizeClass scales the presenter view to the number of options.
	SizeClass              string
	ResultsURL, PresentURL string
	CSVURL, QRURL          string
}

// Closed reports whether the tally shown is of a closed poll.
func (p page) Closed() bool { return p.State == poll.StateClosed }

// totalText words the number of votes in lang.
func totalText(lang string, total int64) string {
	switch total {
	case 0:
		return catalog.T(lang, "total.none")
	case 1:
		return catalog.T(lang, "total.one")
	}
	return catalog.T(lang, "total.many", total)
}

// voteURL is where browsers vote in poll id: VOTE_URL when set, else the
// host this page was opened at on the vote server's port.
func voteURL(c *fiber.Ctx, cfg config.Config, id string) *url.URL {
	u := fiberops.PeerURL(c, cfg.VoteURL, config.VotePort)
	u.Path = strings.TrimRight(u.Path, "/") + "/p/" + id
	u.RawQuery, u.Fragment = "", ""
	return u
}

// newPage builds what the templates need for poll p at tally t.
func newPage(c *fiber.Ctx, cfg config.Config, p poll.Poll, t tally.Tally) page {
	sc := newChrome(c, cfg)
	lang := sc.Lang
	pct := t.Percentages(t.Options())
	byID := make(map[string]int, len(pct))
	for i, o := range t.Options() {
		byID[o] = pct[i]
	}
	vote := voteURL(c, cfg, p.ID)
	base := cfg.PathPrefix + "/p/" + url.PathEscape(p.ID)
	pg := page{
		siteChrome: sc, Poll: p, Total: totalText(lang, t.Total), Version: t.Version, State: t.State,
		WordsNone:  catalog.T(lang, "total.none"),
		WordsOne:   catalog.T(lang, "total.one"),
		WordsMany:  catalog.T(lang, "total.many"),
		VoteURL:    vote.String(),
		VoteHost:   vote.Host,
		VotePath:   vote.Path,
		SizeClass:  sizeClass(len(p.Options), p.Question),
		ResultsURL: base,
		PresentURL: base + "/present",
		CSVURL:     cfg.PathPrefix + "/api/polls/" + url.PathEscape(p.ID) + "/results.csv",
		QRURL:      base + "/qr.png",
	}
	if pg.State == "" {
		pg.State = poll.StateOpen
	}
	for _, o := range p.Options {
		pg.Options = append(pg.Options, pageOption{ID: o.ID, Label: o.Label, Percent: byID[o.ID], Count: t.Counts[o.ID]})
	}
	return pg
}

// longQuestion is the length (in characters) from which the presenter
// view sets a question in smaller type, so that it leaves room for the bars.
const longQuestion = 100

// sizeClass sorts polls by how much the presenter view must fit: how many
// bars (one column up to four, two from five) and how long the question.
func sizeClass(options int, question string) string {
	class := "opts-many"
	switch {
	case options <= 4:
		class = "opts-few"
	case options <= 8:
		class = "opts-mid"
	}
	if utf8.RuneCountInString(question) > longQuestion {
		class += " q-long"
	}
	return class
}

// render writes the named template as the HTML answer.
func (s *server) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// renderError answers the 404 page for an unknown poll, else the 503 page
// (the database is down or not migrated yet).
func (s *server) renderError(c *fiber.Ctx, err error) error {
	data := newChrome(c, s.cfg)
	if isNotFound(err) {
		return s.render(c, fiber.StatusNotFound, "notfound.html", data)
	}
	s.logger.Warn("reading poll failed", "poll", pollID(c), "error", err)
	return s.render(c, fiber.StatusServiceUnavailable, "unavailable.html", data)
}

// handleResults renders a poll's results on the server, readable without
// JavaScript; the page's script then keeps them live.
func handleResults(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, t, _, err := s.load(c)
		if err != nil {
			return s.renderError(c, err)
		}
		return s.render(c, fiber.StatusOK, "results.html", newPage(c, s.cfg, p, t))
	}
}

// handlePresent renders the presenter view: the live results in large
// type, with the vote link and its QR code, for a projector.
func handlePresent(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, t, _, err := s.load(c)
		if err != nil {
			return s.renderError(c, err)
		}
		return s.render(c, fiber.StatusOK, "present.html", newPage(c, s.cfg, p, t))
	}
}

// itoa formats a count.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
