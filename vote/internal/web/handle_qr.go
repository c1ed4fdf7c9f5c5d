package web

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"

	"livevote/vote/internal/votequeue"
)

// handleQR answers an SVG QR code of the poll's vote link, as this
// request reached the server.
func handleQR(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pollID := c.Params("id")
		ctx, cancel := redisContext(c)
		defer cancel()
		if _, err := d.definition(ctx, pollID); errors.Is(err, votequeue.ErrNoPoll) {
			return d.notFound(c, lang(c))
		} else if err != nil {
			return d.unavailable(c, lang(c))
		}
		svg, err := qrSVG(voteURL(c, pollID))
		if err != nil {
			return err
		}
		// The image encodes the host the browser used: a shared cache
		// must not hand one client's image to another.
		c.Set(fiber.HeaderCacheControl, "private, max-age=300")
		c.Type("svg")
		return c.SendString(svg)
	}
}

// qrSVG draws text's QR code (with its quiet zone) as an SVG: one path of
// unit squares, scaled by the viewBox, dark on white, readable by phones
// at any size.
func qrSVG(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bits := q.Bitmap()
	n := strconv.Itoa(len(bits))
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + n + ` ` + n + `" shape-rendering="crispEdges">`)
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/><path fill="#000" d="`)
	for y, row := range bits {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			// A run of dark modules on a row is one rectangle.
			start := x
			for x < len(row) && row[x] {
				x++
			}
			b.WriteString("M" + strconv.Itoa(start) + " " + strconv.Itoa(y) + "h" + strconv.Itoa(x-start) + "v1h-" + strconv.Itoa(x-start) + "z")
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
