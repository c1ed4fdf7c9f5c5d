package web

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/poll"
)

// newFields is how many option fields an empty form shows.
const newFields = 3

type newPage struct {
	layout
	Question    string
	Options     []string
	Errors      []formError       // the summary above the form, each linked to its field
	FieldErrors map[string]string // a field's own words, by its id
	Focus       string            // the field to focus (the one "add option" made)
	CanAdd      bool
	NeedToken   bool
	Max         int
	MaxQuestion int
	MaxLabel    int
}

// newPage renders the form with what was typed, the errors errs and the
// focus on the field focus ("" for none).
func (d *deps) newPage(c *fiber.Ctx, status int, lg, question string, options []string, errs []formError, focus string) error {
	data := newPage{
		Focus:       focus,
		layout:      d.newLayout(c, lg, catalog.T(lg, "new.title"), "/static/new.js"),
		Question:    question,
		Options:     options,
		CanAdd:      len(options) < poll.MaxOptions,
		NeedToken:   d.cfg.CreateToken != "",
		Max:         poll.MaxOptions,
		MaxQuestion: poll.MaxQuestion,
		MaxLabel:    poll.MaxLabel,
	}
	// Only fields the page shows can be pointed at: a post with more
	// options than the form offers gets its words without a link.
	shown := map[string]bool{"question": true, "token": data.NeedToken}
	for i := range options {
		shown[optionField(i)] = true
	}
	for _, e := range errs {
		if !shown[e.Field] {
			e.Field, e.Own = "", ""
		}
		if e.Field != "" && e.Own != "" {
			if data.FieldErrors == nil {
				data.FieldErrors = map[string]string{}
			}
			if _, ok := data.FieldErrors[e.Field]; !ok {
				data.FieldErrors[e.Field] = e.Own
			}
		}
		if e.Text != "" {
			data.Errors = append(data.Errors, e)
		}
	}
	return d.page(c, status, "new", data)
}

// handleNewPage shows the form that creates a poll.
func handleNewPage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return d.newPage(c, fiber.StatusOK, lang(c), "", make([]string, newFields), nil, "")
	}
}

// handleNewPoll takes the form: "add" shows it again with one more option
// field (so no JavaScript is needed), else it creates the poll and sends
// the browser to its manage page. A refused form comes back as typed,
// with what is wrong above it.
func handleNewPoll(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		lg := lang(c)
		fields, err := formBody(c)
		if err != nil {
			if errors.Is(err, errFormType) {
				return c.Status(fiber.StatusUnsupportedMediaType).SendString(catalog.T(lg, "err.type"))
			}
			return err
		}
		question := first(fields, "question")
		typed := fields["option"]
		if len(typed) > poll.MaxOptions {
			typed = typed[:poll.MaxOptions]
		}
		if first(fields, "add") != "" {
			// Without JavaScript the new field gets the focus after the
			// round trip, as the script gives it in the page.
			if len(typed) >= poll.MaxOptions {
				return d.newPage(c, fiber.StatusOK, lg, question, typed, nil, "")
			}
			return d.newPage(c, fiber.StatusOK, lg, question, append(typed, ""), nil, optionField(len(typed)))
		}
		shown := typed
		if len(shown) < poll.MinOptions {
			shown = append(shown, make([]string, poll.MinOptions-len(shown))...)
		}
		if !d.createAllowed(c, first(fields, "token")) {
			return d.newPage(c, fiber.StatusUnauthorized, lg, question, shown,
				[]formError{{"token", catalog.T(lg, "new.e.token"), catalog.T(lg, "new.f.token")}}, "")
		}
		// Empty fields are left out: a form shows more than people fill.
		// labelField[k] is the form field label k came from, so that
		// errors name the field a person sees.
		var labels []string
		var labelField []int
		for i, o := range fields["option"] {
			if strings.TrimSpace(o) != "" {
				labels = append(labels, o)
				labelField = append(labelField, i)
			}
		}
		if errs := checkDefinition(lg, question, fields["option"]); len(errs) > 0 {
			return d.newPage(c, fiber.StatusBadRequest, lg, question, shown, errs, "")
		}
		ctx, cancel := redisContext(c)
		defer cancel()
		rec, token, err := d.createPoll(ctx, question, labels)
		switch {
		case errors.Is(err, poll.ErrInvalid):
			return d.newPage(c, fiber.StatusBadRequest, lg, question, shown, invalidErrors(lg, err, labelField), "")
		case err != nil:
			d.logger.Warn("poll not created", "error", err)
			return d.newPage(c, fiber.StatusServiceUnavailable, lg, question, shown, []formError{{Text: catalog.T(lg, "new.e.down")}}, "")
		}
		return c.Redirect(manageURL("", rec.ID, token), fiber.StatusSeeOther)
	}
}
