package web

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// apiError answers the JSON error of an API route.
func (s *server) apiError(c *fiber.Ctx, err error) error {
	if isNotFound(err) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no such poll"})
	}
	s.logger.Warn("reading poll failed", "poll", pollID(c), "error", err)
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "results unavailable; try again shortly"})
}

// handleTally answers a poll's tally object.
func handleTally(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, _, b, err := s.load(c)
		if err != nil {
			return s.apiError(c, err)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Type("json")
		return c.Send(b)
	}
}

// handleCSV answers a poll's results as CSV: a header line, then one line
// per option in option order, labels quoted as CSV needs.
func handleCSV(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, t, _, err := s.load(c)
		if err != nil {
			return s.apiError(c, err)
		}
		pct := t.Percentages(t.Options())
		byID := make(map[string]int, len(pct))
		for i, o := range t.Options() {
			byID[o] = pct[i]
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{"option", "label", "votes", "percent"})
		for _, o := range p.Options {
			_ = w.Write([]string{o.ID, spreadsheetSafe(o.Label), itoa(t.Counts[o.ID]), strconv.Itoa(byID[o.ID])})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="poll-`+p.ID+`-results.csv"`)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Send(buf.Bytes())
	}
}

// spreadsheetSafe keeps a label that a spreadsheet would run as a formula
// (it starts with =, +, -, @, a tab or a carriage return) as text, with a
// leading apostrophe: a poll's options are typed by anyone, the CSV is
// opened by the poll's owner.
func spreadsheetSafe(label string) string {
	if label != "" && strings.ContainsRune("=+-@\t\r", rune(label[0])) {
		return "'" + label
	}
	return label
}
