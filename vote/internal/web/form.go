package web

import (
	"errors"
	"fmt"
	"mime"

	"github.com/gofiber/fiber/v2"
)

// errFormType reports a form post in a content type other than the two
// that HTML forms send.
var errFormType = errors.New("web: form post must be application/x-www-form-urlencoded or multipart/form-data")

// formBody returns the fields of a form post, read from the body only:
// never from the query string, so a link cannot cast a vote.
func formBody(c *fiber.Ctx) (map[string][]string, error) {
	switch mediaType(c.Get(fiber.HeaderContentType)) {
	case fiber.MIMEApplicationForm:
		fields := map[string][]string{}
		for k, v := range c.Request().PostArgs().All() {
			fields[string(k)] = append(fields[string(k)], string(v))
		}
		return fields, nil
	case fiber.MIMEMultipartForm:
		form, err := c.MultipartForm()
		if err != nil {
			return nil, fiber.NewError(fiber.StatusBadRequest, "malformed multipart form")
		}
		return form.Value, nil
	}
	return nil, errFormType
}

// first is the first value of a field, "" when absent.
func first(fields map[string][]string, key string) string {
	if v := fields[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// mediaType is a Content-Type without its parameters ("" when malformed).
func mediaType(contentType string) string {
	switch contentType {
	case fiber.MIMEApplicationJSON, fiber.MIMEApplicationForm:
		return contentType // the common cases, without parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(contentType string) bool {
	return mediaType(contentType) == fiber.MIMEApplicationJSON
}

// limitBody refuses a body over n bytes with 413, before the handler.
func limitBody(n int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if len(c.Request().Body()) > n {
			msg := fmt.Sprintf("request body over %d KiB", n>>10)
			if isAPI(c) {
				return apiError(c, fiber.StatusRequestEntityTooLarge, msg)
			}
			return c.Status(fiber.StatusRequestEntityTooLarge).SendString(msg)
		}
		return c.Next()
	}
}
