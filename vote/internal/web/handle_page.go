package web

import (
	"bytes"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/ballot"
)

type pageOption struct {
	ID, Label string
	Chosen    bool
}

type pageData struct {
	Options   []pageOption
	Choice    string // the chosen option's label, "" before a vote
	Hostname  string
	SocketURL string
	ResultURL string
	Error     string
}

func (d *deps) render(c *fiber.Ctx, status int, choice, errMsg string) error {
	data := pageData{
		Hostname:  d.hostname,
		SocketURL: d.socketURL,
		ResultURL: d.cfg.ResultURL.String(),
		Error:     errMsg,
	}
	for _, o := range ballot.Options {
		chosen := o == choice
		data.Options = append(data.Options, pageOption{ID: o, Label: d.cfg.Labels[o], Chosen: chosen})
		if chosen {
			data.Choice = d.cfg.Labels[o]
		}
	}
	var buf bytes.Buffer
	if err := d.page.Execute(&buf, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// handlePage shows the vote page, the voter's current choice marked.
func handlePage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		voterID(c)
		choice := c.Cookies(choiceCookie)
		if !ballot.ValidOption(choice) {
			choice = ""
		}
		return d.render(c, fiber.StatusOK, choice, "")
	}
}

// handleFormVote records a vote from the plain HTML form (no JavaScript)
// and answers with the page showing the choice.
func handleFormVote(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		voter := voterID(c)
		option := c.FormValue("vote")
		previous := c.Cookies(choiceCookie)
		if !ballot.ValidOption(previous) {
			previous = ""
		}
		if err := ballot.CheckOption(option); err != nil {
			d.metrics.rejected.WithLabelValues("invalid_option").Inc()
			return d.render(c, fiber.StatusBadRequest, previous, "Not recorded: choose one of the two options.")
		}
		if err := d.record(c, voter, option); err != nil {
			return d.render(c, fiber.StatusServiceUnavailable, previous, unavailableMsg)
		}
		return d.render(c, fiber.StatusOK, option, "")
	}
}
