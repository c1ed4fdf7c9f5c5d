package fiberops

import (
	"io"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestPeerURL(t *testing.T) {
	configured, _ := url.Parse("https://results.example/live")
	tests := []struct {
		name, host string
		configured *url.URL
		want       string
	}{
		{"localhost", "localhost:8080", nil, "http://localhost:8081"},
		{"machine address", "192.0.2.7:8080", nil, "http://192.0.2.7:8081"},
		{"name without port", "vote.example", nil, "http://vote.example:8081"},
		{"IPv6", "[::1]:8080", nil, "http://[::1]:8081"},
		{"configured wins", "localhost:8080", configured, "https://results.example/live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error {
				return c.SendString(PeerURL(c, tt.configured, "8081").String())
			})
			req := httptest.NewRequest("GET", "/", nil)
			req.Host = tt.host
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestSocketURL(t *testing.T) {
	for _, tt := range []struct{ base, want string }{
		{"http://localhost:8081", "ws://localhost:8081/ws?poll=q7"},
		{"https://example.org/results", "wss://example.org/results/ws?poll=q7"},
	} {
		u, _ := url.Parse(tt.base)
		if got := SocketURL(u, "q7"); got != tt.want {
			t.Errorf("SocketURL(%s) = %s, want %s", tt.base, got, tt.want)
		}
	}
}

func TestLang(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString(Lang(c)) })
	for _, tt := range []struct {
		name, query, accept, cookie, want string
		setsCookie                        bool
	}{
		{"browser", "", "es-ES,es;q=0.9", "", "es", false},
		{"switch", "?lang=es", "en", "", "es", true},
		{"cookie", "", "en", "es", "es", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/"+tt.query, nil)
			req.Header.Set("Accept-Language", tt.accept)
			if tt.cookie != "" {
				req.Header.Set("Cookie", "lang="+tt.cookie)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
			if got := resp.Header.Get("Set-Cookie") != ""; got != tt.setsCookie {
				t.Errorf("set a cookie: %v, want %v", got, tt.setsCookie)
			}
		})
	}
}
