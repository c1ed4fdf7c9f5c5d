package web

import (
	"bytes"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/ballot"
)

type pageOption struct {
	ID, Label string
	Percent   int
	Count     int64
}

type pageData struct {
	Options []pageOption
	Total   string
	Version int64
}

// totalText is how the page words the number of votes.
func totalText(total int64) string {
	switch total {
	case 0:
		return "No votes yet"
	case 1:
		return "1 vote"
	}
	return strconv.FormatInt(total, 10) + " votes"
}

// handlePage renders the results on the server, readable without
// JavaScript; the page's script then keeps them live.
func handlePage(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		t, _ := d.view.Current()
		pct := t.Percentages()
		data := pageData{Total: totalText(t.Total), Version: t.Version}
		for i, o := range ballot.Options {
			data.Options = append(data.Options, pageOption{ID: o, Label: d.cfg.Labels[o], Percent: pct[i], Count: t.Counts[o]})
		}
		var buf bytes.Buffer
		if err := d.page.Execute(&buf, data); err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Type("html", "utf-8")
		return c.Send(buf.Bytes())
	}
}

// handleTally answers the current tally object.
func handleTally(view View) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, b := view.Current()
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Type("json")
		return c.Send(b)
	}
}
