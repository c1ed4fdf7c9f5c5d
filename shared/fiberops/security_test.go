package fiberops

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestParseOrigin(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" when it is not an origin
	}{
		{"http://example.com", "http://example.com"},
		{"HTTPS://Example.COM:443", "https://example.com"},
		{"http://example.com:80/", "http://example.com"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{" http://10.0.0.2:8081 ", "http://10.0.0.2:8081"},
		{"null", ""},
		{"", ""},
		{"example.com", ""},
		{"ftp://example.com", ""},
		{"ws://example.com", ""},
		{"http://", ""},
		{"http://example.com/path", ""},
		{"http://example.com?x=1", ""},
		{"http://example.com#top", ""},
		{"http://user:secret@example.com", ""},
		{"http://example.com:0", ""},
		{"http://example.com:99999", ""},
		{"http://exa mple.com", ""},
		{"http://a;b.com", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			o, err := ParseOrigin(tt.in)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrOrigin) {
					t.Errorf("got %+v, %v; want an ErrOrigin", o, err)
				}
				return
			}
			if err != nil || o.String() != tt.want {
				t.Errorf("got %q, %v; want %q", o.String(), err, tt.want)
			}
		})
	}
}

func TestOriginHosts(t *testing.T) {
	for _, tt := range []struct {
		origin, host       string
		sameHost, samePort bool
	}{
		{"http://example.com", "example.com", true, true},
		{"http://example.com", "example.com:80", true, true},
		{"https://example.com", "example.com", true, true},
		{"http://example.com:8080", "EXAMPLE.com:8080", true, true},
		{"http://example.com:8080", "example.com:8081", true, false},
		{"http://example.com", "example.com:8080", true, false},
		{"https://example.com", "example.com:80", true, false},
		{"http://evil.example", "example.com", false, false},
		{"http://example.com.evil.example", "example.com", false, false},
		{"http://[::1]:8080", "[::1]:8080", true, true},
		{"http://[::1]:8080", "[::1]", true, false},
	} {
		t.Run(tt.origin+" "+tt.host, func(t *testing.T) {
			o, err := ParseOrigin(tt.origin)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.SameHost(tt.host); got != tt.sameHost {
				t.Errorf("SameHost: got %v, want %v", got, tt.sameHost)
			}
			if got := o.SameHostPort(tt.host); got != tt.samePort {
				t.Errorf("SameHostPort: got %v, want %v", got, tt.samePort)
			}
		})
	}
}

func TestSocketOrigin(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://example.com:8081", "ws://example.com:8081"},
		{"https://results.example.org/live", "wss://results.example.org"},
		{"http://[::1]:8081", "ws://[::1]:8081"},
		{"gopher://example.com", ""},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := SocketOrigin(u); got != tt.want {
			t.Errorf("SocketOrigin(%s): got %q, want %q", tt.in, got, tt.want)
		}
	}
	// A Host header is the client's to choose: one holding a directive
	// must not reach the policy.
	if got := SocketOrigin(&url.URL{Scheme: "http", Host: "a.com; script-src *"}); got != "" {
		t.Errorf("a host with a directive in it: got %q, want none", got)
	}
}

// TestSecurityHeaders: every answer gets the headers, errors included; a
// route with AllowFraming may be framed by the origins given, and only it.
func TestSecurityHeaders(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(SecurityHeaders(func(c *fiber.Ctx) []string {
		return []string{SelfSocketOrigin(c), SocketOrigin(&url.URL{Scheme: "https", Host: "peer.example"})}
	}))
	app.Get("/page", func(c *fiber.Ctx) error { return c.SendString("page") })
	app.Get("/fail", func(c *fiber.Ctx) error { return fiber.ErrServiceUnavailable })
	app.Get("/framed", AllowFraming([]string{"https://slides.example", "https://deck.example:8443"}), func(c *fiber.Ctx) error { return c.SendString("framed") })
	app.Get("/unframed", AllowFraming(nil), func(c *fiber.Ctx) error { return c.SendString("unframed") })

	base := []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
		"base-uri 'none'", "form-action 'self'", "object-src 'none'",
		"connect-src 'self' ws://example.com:8080 wss://peer.example"}
	for _, tt := range []struct {
		path  string
		code  int
		frame string
		xfo   string
	}{
		{"/page", 200, "frame-ancestors 'none'", "DENY"},
		{"/fail", 503, "frame-ancestors 'none'", "DENY"},
		{"/missing", 404, "frame-ancestors 'none'", "DENY"},
		{"/framed", 200, "frame-ancestors https://slides.example https://deck.example:8443;", ""},
		{"/unframed", 200, "frame-ancestors 'none'", "DENY"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Host = "example.com:8080"
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.code)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range append(base, tt.frame) {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy: got %q, want it to hold %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy: got %q, want nothing unsafe", csp)
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": tt.xfo} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: got %q, want %q", h, got, want)
				}
			}
		})
	}
}
