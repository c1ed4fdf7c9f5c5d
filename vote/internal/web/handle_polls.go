package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
	"livevote/shared/poll"
	"livevote/vote/internal/votequeue"
)

// createAttempts bounds the ids drawn for one poll: with 40 random bits a
// second draw is already rare.
const createAttempts = 5

// createPoll checks a definition and writes the new poll to Redis under a
// fresh id, returning it and its manage token. Its error wraps
// poll.ErrInvalid for a bad definition; any other means Redis did not take it.
func (d *deps) createPoll(ctx context.Context, question string, labels []string) (poll.Record, string, error) {
	now := time.Now()
	for i := 0; i < createAttempts; i++ {
		p, err := poll.New(poll.NewID(), question, labels, now)
		if err != nil {
			return poll.Record{}, "", err
		}
		token := poll.NewManageToken()
		rec := poll.Record{Poll: p, TokenHash: poll.HashToken(token)}
		err = d.store.Create(ctx, rec)
		if errors.Is(err, votequeue.ErrTaken) {
			continue
		}
		if err != nil {
			return poll.Record{}, "", err
		}
		d.polls.Put(rec)
		d.metrics.polls.WithLabelValues("create").Inc()
		d.logger.Info("poll created", "poll", p.ID, "options", len(p.Options))
		return rec, token, nil
	}
	return poll.Record{}, "", fmt.Errorf("creating poll: no free id in %d draws", createAttempts)
}

// invalidText is the words of a poll.ErrInvalid error without its prefix.
func invalidText(err error) string {
	return strings.TrimPrefix(err.Error(), poll.ErrInvalid.Error()+": ")
}

// createAllowed reports whether c may create a poll: always when no
// POLL_CREATE_TOKEN is set, else with it as the Bearer token or given.
func (d *deps) createAllowed(c *fiber.Ctx, given string) bool {
	if d.cfg.CreateToken == "" {
		return true
	}
	if given == "" {
		given = bearer(c)
	}
	return given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(d.cfg.CreateToken)) == 1
}

// bearer is the token of an "Authorization: Bearer <token>" header.
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// handleCreatePoll creates a poll from {"question":"…","options":[…]} and
// answers 201 with the poll, its links and its manage token.
func handleCreatePoll(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !d.createAllowed(c, "") {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="polls"`)
			return apiError(c, fiber.StatusUnauthorized, "creating a poll needs Authorization: Bearer <POLL_CREATE_TOKEN>")
		}
		if !isJSON(c.Get(fiber.HeaderContentType)) {
			return apiError(c, fiber.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
		var req poll.CreateRequest
		dec := json.NewDecoder(bytes.NewReader(c.Body()))
		if err := dec.Decode(&req); err != nil || dec.More() {
			return apiError(c, fiber.StatusBadRequest, `malformed JSON: want {"question":"…","options":["…","…"]}`)
		}
		ctx, cancel := redisContext(c)
		defer cancel()
		rec, token, err := d.createPoll(ctx, req.Question, req.Options)
		switch {
		case errors.Is(err, poll.ErrInvalid):
			return apiError(c, fiber.StatusBadRequest, invalidText(err))
		case err != nil:
			d.logger.Warn("poll not created", "error", err)
			return apiError(c, fiber.StatusServiceUnavailable, "poll "+unavailableMsg)
		}
		base := fiberops.BaseURL(c)
		c.Location("/api/polls/" + rec.ID)
		return c.Status(fiber.StatusCreated).JSON(poll.Created{
			Poll:        rec.Poll,
			VoteURL:     voteURL(c, rec.ID),
			ResultsURL:  resultsURL(d.resultBase(c).String(), rec.ID),
			ManageURL:   manageURL(base, rec.ID, token),
			ManageToken: token,
		})
	}
}

// handleGetPoll answers the poll JSON with its state now.
func handleGetPoll(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pollID := c.Params("id")
		ctx, cancel := redisContext(c)
		defer cancel()
		rec, _, err := d.current(ctx, pollID)
		switch {
		case errors.Is(err, votequeue.ErrNoPoll):
			return apiError(c, fiber.StatusNotFound, "no poll "+quoteID(pollID))
		case err != nil || rec.State == "":
			return apiError(c, fiber.StatusServiceUnavailable, "poll state unknown: the vote queue (Redis) is unavailable; please try again")
		}
		return c.JSON(rec.Poll)
	}
}

// handleSetState closes (state closed) or reopens (open) a poll for the
// holder of its manage token, given as the Bearer token.
func handleSetState(d *deps, state string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pollID := c.Params("id")
		rec, status := d.setState(c, pollID, bearer(c), state)
		switch status {
		case fiber.StatusOK:
			return c.JSON(rec.Poll)
		case fiber.StatusNotFound:
			return apiError(c, status, "no poll "+quoteID(pollID))
		case fiber.StatusForbidden:
			return apiError(c, status, "missing or wrong manage token: send Authorization: Bearer <manage_token>")
		}
		return apiError(c, fiber.StatusServiceUnavailable, "poll state not changed: the vote queue (Redis) is unavailable; please try again")
	}
}

// setState checks token against pollID's and sets its state: 200 with the
// poll as it is now, 404, 403 or 503.
func (d *deps) setState(c *fiber.Ctx, pollID, token, state string) (poll.Record, int) {
	ctx, cancel := redisContext(c)
	defer cancel()
	rec, err := d.definition(ctx, pollID)
	switch {
	case errors.Is(err, votequeue.ErrNoPoll):
		return rec, fiber.StatusNotFound
	case err != nil:
		d.logger.Warn("poll not read", "poll", pollID, "error", err)
		return rec, fiber.StatusServiceUnavailable
	}
	if !rec.TokenMatches(token) {
		return rec, fiber.StatusForbidden
	}
	changed, err := d.store.SetState(ctx, pollID, state)
	switch {
	case errors.Is(err, votequeue.ErrNoPoll):
		return rec, fiber.StatusNotFound
	case err != nil:
		d.logger.Warn("poll state not set", "poll", pollID, "state", state, "error", err)
		return rec, fiber.StatusServiceUnavailable
	}
	if changed {
		op := "reopen"
		if state == poll.StateClosed {
			op = "close"
		}
		d.metrics.polls.WithLabelValues(op).Inc()
		d.logger.Info("poll state set", "poll", pollID, "state", state)
	}
	rec.State = state
	return rec, fiber.StatusOK
}
