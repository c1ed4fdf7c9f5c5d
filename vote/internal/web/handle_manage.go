package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
	"livevote/shared/poll"
	"livevote/vote/internal/votequeue"
)

type managePage struct {
	layout
	Poll       poll.Poll
	Closed     bool
	Token      string
	Action     string
	VoteURL    string
	VoteHost   string // the vote link's scheme and host, shown before a line break
	VotePath   string // and its path, so a phone breaks the link there
	QRURL      string
	ResultsURL string
	PresentURL string
}

// handleManagePage shows the manage page to the holder of the poll's
// manage token (?token=): the vote link and its QR code, the results and
// presenter links, the state and the button that closes or reopens.
func handleManagePage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		lg := lang(c)
		pollID := c.Params("id")
		token := c.Query("token")
		// The token is in this page's address: no link from it may pass
		// the address on.
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		ctx, cancel := redisContext(c)
		defer cancel()
		rec, _, err := d.current(ctx, pollID)
		switch {
		case errors.Is(err, votequeue.ErrNoPoll):
			return d.notFound(c, lg)
		case err != nil || rec.State == "":
			return d.unavailable(c, lg)
		}
		if !rec.TokenMatches(token) {
			return d.forbidden(c, lg)
		}
		base := d.resultBase(c).String()
		return d.page(c, fiber.StatusOK, "manage", managePage{
			layout:     d.newLayout(c, lg, catalog.T(lg, "manage.title")+": "+rec.Question, "/static/manage.js"),
			Poll:       rec.Poll,
			Closed:     rec.Closed(),
			Token:      token,
			Action:     "/p/" + rec.ID + "/manage",
			VoteURL:    voteURL(c, rec.ID),
			VoteHost:   fiberops.BaseURL(c),
			VotePath:   "/p/" + rec.ID,
			QRURL:      "/p/" + rec.ID + "/qr.svg",
			ResultsURL: resultsURL(base, rec.ID),
			PresentURL: base + "/p/" + rec.ID + "/present",
		})
	}
}

// handleManage takes the manage page's form (token, action=close|reopen)
// and sends the browser back to the page (303).
func handleManage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		lg := lang(c)
		pollID := c.Params("id")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		fields, err := formBody(c)
		if err != nil {
			if errors.Is(err, errFormType) {
				return c.Status(fiber.StatusUnsupportedMediaType).SendString(catalog.T(lg, "err.type"))
			}
			return err
		}
		var state string
		switch first(fields, "action") {
		case "close":
			state = poll.StateClosed
		case "reopen":
			state = poll.StateOpen
		default:
			return d.message(c, fiber.StatusBadRequest, lg, catalog.T(lg, "bad.title"), catalog.T(lg, "manage.action"))
		}
		token := first(fields, "token")
		_, status := d.setState(c, pollID, token, state)
		switch status {
		case fiber.StatusOK:
			return c.Redirect(manageURL("", pollID, token), fiber.StatusSeeOther)
		case fiber.StatusNotFound:
			return d.notFound(c, lg)
		case fiber.StatusForbidden:
			return d.forbidden(c, lg)
		}
		return d.unavailable(c, lg)
	}
}
