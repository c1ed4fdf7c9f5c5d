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
		if mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err != nil || mt != fiber.MIMEApplicationJSON {
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
		return c.Status(fiber.StatusAccepted).JSON(ballot.Accepted{VoterID: voter, Vote: req.Vote})
	}
}
