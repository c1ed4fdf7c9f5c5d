package fiberops

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/clientaddr"
)

// TestForwarded: the scheme and host come from the connection unless its
// peer is a trusted proxy, and then only from the values the nearest proxy
// wrote last; other scheme headers Fiber would read (X-Url-Scheme,
// X-Forwarded-Protocol, X-Forwarded-Ssl) and the leftmost X-Forwarded-Host
// a client slipped in front are never believed.
func TestForwarded(t *testing.T) {
	// app.Test's connections come from 0.0.0.0.
	trusted, err := clientaddr.ParseTrusted("0.0.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		trusted clientaddr.Trusted
		headers []string
		want    string
	}{
		{"direct", clientaddr.Trusted{}, nil, "http://vote.example:8080"},
		{"untrusted peer", clientaddr.Trusted{}, []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}, "http://vote.example:8080"},
		{"trusted proxy", trusted, []string{"X-Forwarded-Host", "vote.example", "X-Forwarded-Proto", "https"}, "https://vote.example"},
		{"client's host in front", trusted, []string{"X-Forwarded-Host", "evil.example, vote.example"}, "http://vote.example"},
		{"other scheme headers", trusted, []string{"X-Url-Scheme", "javascript", "X-Forwarded-Protocol", "https", "X-Forwarded-Ssl", "on"}, "http://vote.example:8080"},
		{"proto not http", trusted, []string{"X-Forwarded-Proto", "javascript"}, "http://vote.example:8080"},
		{"last proto wins", trusted, []string{"X-Forwarded-Proto", "http, https"}, "https://vote.example:8080"},
		{"host not a host", trusted, []string{"X-Forwarded-Host", "evil.example/x?"}, "http://vote.example:8080"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Use(Forwarded(tt.trusted))
			app.Get("/", func(c *fiber.Ctx) error { return c.SendString(BaseURL(c)) })
			req := httptest.NewRequest("GET", "/", nil)
			req.Host = "vote.example:8080"
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}
