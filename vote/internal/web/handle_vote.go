package web

import (
	"encoding/json"
	"mime"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/ballot"
)

// handleAPIVote records a vote sent as JSON {"vote":"a"} and answers 202
// with the voter's id once Redis holds it.
func handleAPIVote(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !isJSON(c.Get(fiber.HeaderContentType)) {
			d.metrics.rejected.WithLabelValues("content_type").Inc()
			return c.Status(fiber.StatusUnsupportedMediaType).JSON(errorBody{Error: "Content-Type must be application/json"})
		}
		var req ballot.Request
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			d.metrics.rejected.WithLabelValues("malformed_json").Inc()
			return c.Status(fiber.StatusBadRequest).JSON(errorBody{Error: "malformed JSON: want {\"vote\":\"a\"} or {\"vote\":\"b\"}"})
		}
		if err := ballot.CheckOption(req.Vote); err != nil {
			d.metrics.rejected.WithLabelValues("invalid_option").Inc()
			return c.Status(fiber.StatusBadRequest).JSON(errorBody{Error: "vote must be \"a\" or \"b\""})
		}
		voter := voterID(c)
		if err := d.record(c, voter, req.Vote); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{Error: unavailableMsg})
		}
		// Written by hand on this hot path: a voter id is URL-safe base64 and
		// the vote is a or b, so nothing needs escaping.
		c.Status(fiber.StatusAccepted).Type("json")
		return c.SendString(`{"voter_id":"` + voter + `","vote":"` + req.Vote + `"}`)
	}
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(contentType string) bool {
	if contentType == fiber.MIMEApplicationJSON {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == fiber.MIMEApplicationJSON
}
