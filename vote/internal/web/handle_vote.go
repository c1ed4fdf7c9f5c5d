package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/fiberops"
	"livevote/shared/poll"
	"livevote/shared/tally"
	"livevote/vote/internal/ratelimit"
	"livevote/vote/internal/votequeue"
)

type pageOption struct {
	ID, Label string
	Chosen    bool
}

type tallyRow struct {
	ID, Label      string
	Percent, Count int64
}

type votePage struct {
	layout
	Poll       poll.Poll
	Options    []pageOption
	Choice     string // the chosen option's label, "" before a vote
	Closed     bool
	NoState    bool // Redis did not say whether the poll is open
	State      string
	Error      string
	Action     string // where the form posts
	API        string // where the script posts
	SocketURL  string
	ResultsURL string
	Rows       []tallyRow
	HasTally   bool
	Total      string
}

// pollParam is the poll of a route: :id, or the default poll on "/".
func pollParam(c *fiber.Ctx) string {
	if id := c.Params("id"); id != "" {
		return id
	}
	return poll.DefaultID
}

// handlePage shows a poll's vote page, the voter's current choice marked.
func handlePage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d.offerVoterID(c)
		return d.votePage(c, pollParam(c), fiber.StatusOK, "", "")
	}
}

// votePage renders pollID's page with the voter's choice (from the cookie
// unless chosen is set) and an error message.
func (d *deps) votePage(c *fiber.Ctx, pollID string, status int, chosen, errMsg string) error {
	lg := lang(c)
	ctx, cancel := redisContext(c)
	defer cancel()
	rec, stored, err := d.current(ctx, pollID)
	switch {
	case errors.Is(err, votequeue.ErrNoPoll):
		return d.notFound(c, lg)
	case err != nil:
		d.logger.Warn("poll not read", "poll", pollID, "error", err)
		return d.unavailable(c, lg)
	}
	p := rec.Poll
	if chosen == "" {
		name, _ := choiceCookie(pollID)
		chosen = c.Cookies(name)
	}
	if !p.HasOption(chosen) {
		chosen = ""
	}
	data := votePage{
		layout:     d.newLayout(c, lg, p.Question, "/static/tally.js", "/static/vote.js"),
		Poll:       p,
		Closed:     p.Closed(),
		NoState:    p.State == "",
		State:      p.State,
		Error:      errMsg,
		Action:     c.Path(),
		API:        voteAPI(pollID),
		SocketURL:  fiberops.SocketURL(d.resultBase(c), pollID),
		ResultsURL: resultsURL(d.resultBase(c).String(), pollID),
		Total:      catalog.T(lg, "vote.connect"),
	}
	for _, o := range p.Options {
		data.Options = append(data.Options, pageOption{ID: o.ID, Label: o.Label, Chosen: o.ID == chosen})
		if o.ID == chosen {
			data.Choice = o.Label
		}
	}
	d.fillTally(&data, lg, stored)
	return d.page(c, status, "vote", data)
}

// fillTally puts the tally Redis holds into the page, so that it reads
// right without JavaScript (a closed poll's final numbers above all).
func (d *deps) fillTally(data *votePage, lg string, stored []byte) {
	var t tally.Tally
	if stored != nil {
		if err := json.Unmarshal(stored, &t); err != nil || t.Poll != data.Poll.ID {
			d.logger.Warn("stored tally ignored", "poll", data.Poll.ID, "error", err)
			stored = nil
		}
	}
	ids := data.Poll.OptionIDs()
	var pct []int
	if stored != nil {
		data.HasTally = true
		pct = t.Percentages(ids)
		data.Total = totalText(lg, t.Total)
	}
	for i, o := range data.Poll.Options {
		row := tallyRow{ID: o.ID, Label: o.Label}
		if stored != nil {
			row.Percent, row.Count = int64(pct[i]), t.Counts[o.ID]
		}
		data.Rows = append(data.Rows, row)
	}
}

// totalText is "No votes yet", "1 vote" or "N votes" in lg.
func totalText(lg string, total int64) string {
	switch total {
	case 0:
		return catalog.T(lg, "total.none")
	case 1:
		return catalog.T(lg, "total.one")
	}
	return catalog.T(lg, "total.many", total)
}

// voteAPI is the JSON route that takes votes in pollID.
func voteAPI(pollID string) string {
	if pollID == poll.DefaultID {
		return "/api/vote"
	}
	return "/api/polls/" + pollID + "/votes"
}

// resultsURL is pollID's results page under the result server's base.
func resultsURL(base, pollID string) string {
	if pollID == poll.DefaultID {
		return base + "/"
	}
	return base + "/p/" + pollID
}

// handleFormVote records a vote from the plain HTML form (no JavaScript)
// and answers with the page showing the choice.
func handleFormVote(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pollID := pollParam(c)
		lg := lang(c)
		fields, err := formBody(c)
		if err != nil {
			d.metrics.rejected.WithLabelValues("content_type").Inc()
			if errors.Is(err, errFormType) {
				return c.Status(fiber.StatusUnsupportedMediaType).SendString(catalog.T(lg, "err.type"))
			}
			return err
		}
		res := d.cast(c, pollID, first(fields, "vote"))
		switch res.status {
		case fiber.StatusAccepted:
			return d.votePage(c, pollID, fiber.StatusOK, first(fields, "vote"), "")
		case fiber.StatusNotFound:
			return d.notFound(c, lg)
		case fiber.StatusBadRequest:
			return d.votePage(c, pollID, res.status, "", catalog.T(lg, "err.option"))
		case fiber.StatusConflict:
			return d.votePage(c, pollID, res.status, "", catalog.T(lg, "err.closed"))
		case fiber.StatusTooManyRequests:
			return d.votePage(c, pollID, res.status, "", catalog.T(lg, "err.limited", res.limited.retryAfter))
		}
		msg := "err.down"
		if res.full {
			msg = "err.full"
		}
		return d.votePage(c, pollID, fiber.StatusServiceUnavailable, "", catalog.T(lg, msg))
	}
}

// castResult is what became of a vote: its status, and why when it was
// refused over a rate limit (429) or because Redis is full (503).
type castResult struct {
	status  int
	limited *limited
	full    bool
	// unreplicated: Redis holds it, too few replicas did in time.
	unreplicated bool
}

// cast checks option against pollID and appends the vote of c's voter. It
// answers 202 once Redis holds the vote, else 400 (no such option), 404
// (no such poll), 409 (closed), 429 (over a rate limit, with Retry-After
// set) or 503 (Redis did not answer, or is full), counting the refusal in
// the metrics. A voter without an id this installation issued gets a new
// one, within the new-voter limit.
func (d *deps) cast(c *fiber.Ctx, pollID, option string) castResult {
	ctx, cancel := redisContext(c)
	defer cancel()
	signer, err := d.voters.Signer(ctx)
	if err != nil {
		return d.refused(pollID, err)
	}
	if res, ok := d.overLimit(ctx, c, pollID, ratelimit.Votes); !ok {
		return res
	}
	rec, err := d.definition(ctx, pollID)
	if err != nil {
		return d.refused(pollID, err)
	}
	if !rec.HasOption(option) {
		d.metrics.rejected.WithLabelValues("invalid_option").Inc()
		return castResult{status: fiber.StatusBadRequest}
	}
	// Fiber's strings point into the request's buffer, reused once the
	// handler returns; the vote may outlive it in the queue (a timeout).
	pollID, option = strings.Clone(pollID), strings.Clone(option)
	voter := strings.Clone(knownVoter(c, signer))
	if voter == "" {
		if res, ok := d.overLimit(ctx, c, pollID, ratelimit.NewVoters); !ok {
			return res
		}
		voter = signer.Issue()
		setCookie(c, voterCookie, voter, "/")
	}
	c.Locals(voterCookie, voter)
	timer := d.metrics.appendTimer()
	_, err = d.store.Append(ctx, pollID, voter, option)
	timer()
	if err != nil {
		return d.refused(pollID, err)
	}
	d.metrics.accepted.WithLabelValues(option).Inc()
	// Remembered in the browser so a returning voter sees their choice.
	if name, path := choiceCookie(pollID); c.Cookies(name) != option {
		setCookie(c, name, option, path)
	}
	return castResult{status: fiber.StatusAccepted}
}

// overLimit counts one event of kind for c's address; ok is false when the
// vote must stop there (429, or 503 when the limit could not be checked).
func (d *deps) overLimit(ctx context.Context, c *fiber.Ctx, pollID string, kind ratelimit.Kind) (res castResult, ok bool) {
	l, err := d.allow(ctx, c, kind)
	switch {
	case err != nil:
		return d.refused(pollID, err), false
	case l != nil:
		d.metrics.rejected.WithLabelValues("rate_limited").Inc()
		return castResult{status: fiber.StatusTooManyRequests, limited: l}, false
	}
	return castResult{}, true
}

// refused maps a store error to its result and counts it.
func (d *deps) refused(pollID string, err error) castResult {
	switch {
	case errors.Is(err, votequeue.ErrNoPoll):
		d.metrics.rejected.WithLabelValues("unknown_poll").Inc()
		return castResult{status: fiber.StatusNotFound}
	case errors.Is(err, votequeue.ErrPollClosed):
		d.metrics.rejected.WithLabelValues("closed").Inc()
		return castResult{status: fiber.StatusConflict}
	case redis.IsOOMError(err):
		// maxmemory reached with noeviction: nothing was written.
		d.metrics.rejected.WithLabelValues("full").Inc()
		d.refusals.Warn(d.logger, "vote not recorded: Redis is full", "poll", pollID, "error", err)
		return castResult{status: fiber.StatusServiceUnavailable, full: true}
	case errors.Is(err, votequeue.ErrNotReplicated):
		d.metrics.rejected.WithLabelValues("not_replicated").Inc()
		d.refusals.Warn(d.logger, "vote not acknowledged: too few Redis replicas hold it (REDIS_WAIT_REPLICAS)", "poll", pollID, "error", err)
		return castResult{status: fiber.StatusServiceUnavailable, unreplicated: true}
	}
	d.metrics.rejected.WithLabelValues("unavailable").Inc()
	d.refusals.Warn(d.logger, "vote not recorded", "poll", pollID, "error", err)
	return castResult{status: fiber.StatusServiceUnavailable}
}

// handleAPIVote records a vote sent as JSON {"vote":"<option id>"} in the
// route's poll (the default poll on /api/vote) and answers 202 with the
// voter's id once Redis holds it.
func handleAPIVote(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pollID := pollParam(c)
		if !isJSON(c.Get(fiber.HeaderContentType)) {
			d.metrics.rejected.WithLabelValues("content_type").Inc()
			return apiError(c, fiber.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
		var req ballot.Request
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			d.metrics.rejected.WithLabelValues("malformed_json").Inc()
			return apiError(c, fiber.StatusBadRequest, `malformed JSON: want {"vote":"<option id>"}`)
		}
		res := d.cast(c, pollID, req.Vote)
		switch res.status {
		case fiber.StatusAccepted:
		case fiber.StatusBadRequest:
			return apiError(c, res.status, d.optionError(c, pollID))
		case fiber.StatusNotFound:
			return apiError(c, res.status, "no poll "+quoteID(pollID))
		case fiber.StatusConflict:
			return apiError(c, res.status, "this poll is closed: the vote was not recorded")
		case fiber.StatusTooManyRequests:
			return apiError(c, res.status, limitedMsg(res.limited))
		default:
			if res.full {
				return apiError(c, fiber.StatusServiceUnavailable, "vote "+fullMsg)
			}
			if res.unreplicated {
				return apiError(c, fiber.StatusServiceUnavailable, "vote "+unreplicatedMsg)
			}
			return apiError(c, fiber.StatusServiceUnavailable, "vote "+unavailableMsg)
		}
		voter, _ := c.Locals(voterCookie).(string)
		// Written by hand on this hot path: a voter id is URL-safe base64
		// and a dot, a poll id and an option id are lowercase letters,
		// digits and dashes, so nothing needs escaping.
		c.Status(fiber.StatusAccepted).Type("json")
		if pollID == poll.DefaultID && c.Params("id") == "" {
			return c.SendString(`{"voter_id":"` + voter + `","vote":"` + req.Vote + `"}`)
		}
		return c.SendString(`{"voter_id":"` + voter + `","poll":"` + pollID + `","vote":"` + req.Vote + `"}`)
	}
}

// limitedMsg tells an API client which limit refused its vote and when to
// try again.
func limitedMsg(l *limited) string {
	what := "votes"
	if l.kind == ratelimit.NewVoters {
		what = "new voters"
	}
	return fmt.Sprintf("vote not recorded: too many %s from this address (rate limit); retry after %d s", what, l.retryAfter)
}

// optionError names the options a vote may take in pollID.
func (d *deps) optionError(c *fiber.Ctx, pollID string) string {
	rec, err := d.definition(c.UserContext(), pollID)
	if err != nil {
		return "vote is not an option of this poll"
	}
	ids, _ := json.Marshal(rec.OptionIDs())
	return "vote must be one of " + string(ids)
}

// quoteID quotes a poll id from a URL for a message, cut short.
func quoteID(id string) string {
	if len(id) > poll.MaxIDLen+8 {
		id = id[:poll.MaxIDLen+8]
	}
	b, _ := json.Marshal(id)
	return string(b)
}
