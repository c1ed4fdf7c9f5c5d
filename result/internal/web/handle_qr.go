package web

import (
	"context"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"
)

// qrSize is the QR code's side in pixels: sharp on a projector, small on
// the wire.
const qrSize = 480

// handleQR answers a PNG QR code of the poll's vote URL, for the presenter
// view. The URL depends on the host the page was opened at (without
// VOTE_URL), so the image is not cached across hosts.
func handleQR(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), lookupTimeout)
		defer cancel()
		p, err := s.Polls.Poll(ctx, pollID(c))
		if err != nil {
			if isNotFound(err) {
				return fiber.ErrNotFound
			}
			return fiber.ErrServiceUnavailable
		}
		png, err := qrcode.Encode(voteURL(c, s.cfg, p.ID).String(), qrcode.Medium, qrSize)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "image/png")
		c.Set(fiber.HeaderCacheControl, "private, no-cache")
		c.Vary(fiber.HeaderHost)
		return c.Send(png)
	}
}
