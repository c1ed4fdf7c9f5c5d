package web

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/poll"
)

// newFields is how many option fields an empty form shows.
const newFields = 3

type newPage struct {
	layout
	Question    string
	Options     []string
	Errors      []string
	CanAdd      bool
	NeedToken   bool
	Max         int
	MaxQuestion int
	MaxLabel    int
}

func (d *deps) newPage(c *fiber.Ctx, status int, lg, question string, options, errs []string) error {
	return d.page(c, status, "new", newPage{
		layout:      d.newLayout(c, lg, catalog.T(lg, "new.title"), "/static/new.js"),
		Question:    question,
		Options:     options,
		Errors:      errs,
		CanAdd:      len(options) < poll.MaxOptions,
		NeedToken:   d.cfg.CreateToken != "",
		Max:         poll.MaxOptions,
		MaxQuestion: poll.MaxQuestion,
		MaxLabel:    poll.MaxLabel,
	})
}

// handleNewPage shows the form that creates a poll.
func handleNewPage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return d.newPage(c, fiber.StatusOK, lang(c), "", make([]string, newFields), nil)
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
			return d.newPage(c, fiber.StatusOK, lg, question, append(typed, ""), nil)
		}
		shown := typed
		if len(shown) < poll.MinOptions {
			shown = append(shown, make([]string, poll.MinOptions-len(shown))...)
		}
		if !d.createAllowed(c, first(fields, "token")) {
			return d.newPage(c, fiber.StatusUnauthorized, lg, question, shown, []string{catalog.T(lg, "new.e.token")})
		}
		// Empty fields are left out: a form shows more than people fill.
		var labels []string
		for _, o := range fields["option"] {
			if strings.TrimSpace(o) != "" {
				labels = append(labels, o)
			}
		}
		if msg := definitionError(lg, question, fields["option"]); msg != "" {
			return d.newPage(c, fiber.StatusBadRequest, lg, question, shown, []string{msg})
		}
		ctx, cancel := redisContext(c)
		defer cancel()
		rec, token, err := d.createPoll(ctx, question, labels)
		switch {
		case errors.Is(err, poll.ErrInvalid):
			return d.newPage(c, fiber.StatusBadRequest, lg, question, shown, []string{invalidText(err)})
		case err != nil:
			d.logger.Warn("poll not created", "error", err)
			return d.newPage(c, fiber.StatusServiceUnavailable, lg, question, shown, []string{catalog.T(lg, "new.e.down")})
		}
		return c.Redirect(manageURL("", rec.ID, token), fiber.StatusSeeOther)
	}
}

// definitionError says in lg what is wrong with a definition typed in the
// form (empty option fields left out, the others named by their field's
// number), following poll.New's rules (which stay the judge), or "".
func definitionError(lg, question string, typed []string) string {
	switch n := utf8.RuneCountInString(strings.TrimSpace(question)); {
	case n == 0:
		return catalog.T(lg, "new.e.qempty")
	case n > poll.MaxQuestion:
		return catalog.T(lg, "new.e.qlong", n)
	}
	filled := 0
	for _, l := range typed {
		if strings.TrimSpace(l) != "" {
			filled++
		}
	}
	switch {
	case filled < poll.MinOptions:
		return catalog.T(lg, "new.e.few")
	case filled > poll.MaxOptions:
		return catalog.T(lg, "new.e.many")
	}
	seen := map[string]int{}
	for i, l := range typed {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if n := utf8.RuneCountInString(l); n > poll.MaxLabel {
			return catalog.T(lg, "new.e.long", i+1, n)
		}
		if j, ok := seen[strings.ToLower(l)]; ok {
			return catalog.T(lg, "new.e.dup", j+1, i+1)
		}
		seen[strings.ToLower(l)] = i
	}
	return ""
}
