package fiberops

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// cspKey holds, in a request's Locals, the sources SecurityHeaders chose
// for it, so that AllowFraming can write the policy again with other
// frame ancestors.
type cspKey struct{}

// policy is one request's Content-Security-Policy.
type policy struct {
	connect []string // beyond 'self'
	frame   []string // nil: 'none'
}

// String writes the policy. Pages load scripts, styles and images from
// their own server only and have no inline script or style attribute, so
// nothing needs 'unsafe-inline'; scripts may open connections to the page's
// own server and the listed WebSocket origins only.
func (p policy) String() string {
	var b strings.Builder
	b.WriteString("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'")
	for _, s := range p.connect {
		if s == "" {
			continue
		}
		b.WriteString(" ")
		b.WriteString(s)
	}
	b.WriteString("; frame-ancestors")
	if len(p.frame) == 0 {
		b.WriteString(" 'none'")
	}
	for _, s := range p.frame {
		b.WriteString(" ")
		b.WriteString(s)
	}
	b.WriteString("; base-uri 'none'; form-action 'self'; object-src 'none'")
	return b.String()
}

// SecurityHeaders returns the middleware, used by every server, that gives
// each answer (pages, API, static files, errors) its security headers: a
// strict Content-Security-Policy that no page may be framed under,
// X-Content-Type-Options: nosniff and Referrer-Policy: same-origin. They
// are set before the handler runs, so a handler may override one (the
// manage page's no-referrer, AllowFraming). connect returns the WebSocket
// origins, beyond the page's own server, that its scripts may connect to;
// it is asked on every request because by default the peer server is found
// at the host the browser used (PeerURL).
func SecurityHeaders(connect func(c *fiber.Ctx) []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := policy{connect: connect(c)}
		c.Locals(cspKey{}, p)
		c.Set(fiber.HeaderContentSecurityPolicy, p.String())
		c.Set(fiber.HeaderXFrameOptions, "DENY") // for browsers without frame-ancestors
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "same-origin")
		return c.Next()
	}
}

// AllowFraming returns a route middleware, placed after SecurityHeaders,
// that lets pages of the given origins frame the route (frame-ancestors):
// the presenter view embedded in slides. With no origins the route stays
// unframable.
func AllowFraming(origins []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, ok := c.Locals(cspKey{}).(policy)
		if ok && len(origins) > 0 {
			p.frame = origins
			c.Set(fiber.HeaderContentSecurityPolicy, p.String())
			c.Response().Header.Del(fiber.HeaderXFrameOptions)
		}
		return c.Next()
	}
}

// SocketOrigin is the WebSocket origin (ws or wss, host and port) of a
// server at base, as a Content-Security-Policy source; "" when base's host
// holds characters no host has (it comes from the request's Host header,
// and must not add directives to the policy).
func SocketOrigin(base *url.URL) string {
	scheme := map[string]string{"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}[base.Scheme]
	if scheme == "" || base.Host == "" || !hostChars(base.Host) {
		return ""
	}
	return scheme + "://" + base.Host
}

// SelfSocketOrigin is SocketOrigin of the server as this request reached it.
func SelfSocketOrigin(c *fiber.Ctx) string {
	return SocketOrigin(&url.URL{Scheme: Scheme(c), Host: Host(c)})
}

func hostChars(h string) bool {
	for _, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune(".-_:[]", r)
		if !ok {
			return false
		}
	}
	return true
}

// originHost reports whether h, a host as url.Hostname returns it (an IPv6
// address without its brackets), names a host: an IP address, or a name of
// letters, digits, dots, dashes and underscores ("http://]" names none).
func originHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	return h != "" && !strings.ContainsAny(h, ":[]") && hostChars(h)
}

// Origin is a web origin as browsers send it in the Origin header and
// operators write it in a setting: scheme, host and port, lower-case, the
// port always filled in.
type Origin struct {
	Scheme, Host, Port string
}

// ErrOrigin is wrapped by ParseOrigin's errors.
var ErrOrigin = errors.New("fiberops: not an origin")

// ParseOrigin parses s as scheme://host[:port] with scheme http or https
// and nothing more (no user, path other than "/", query or fragment).
// "null", the Origin of sandboxed and privacy-sensitive requests, is not
// an origin.
func ParseOrigin(s string) (Origin, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return Origin{}, fmt.Errorf("%w: %q", ErrOrigin, s)
	}
	o := Origin{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Hostname()), Port: u.Port()}
	defaults := map[string]string{"http": "80", "https": "443"}
	switch {
	case defaults[o.Scheme] == "":
		return Origin{}, fmt.Errorf("%w: %q: want http:// or https://", ErrOrigin, s)
	case !originHost(o.Host) || u.User != nil || u.Opaque != "":
		return Origin{}, fmt.Errorf("%w: %q: want scheme://host[:port]", ErrOrigin, s)
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return Origin{}, fmt.Errorf("%w: %q: an origin has no path, query or fragment", ErrOrigin, s)
	}
	if o.Port == "" {
		o.Port = defaults[o.Scheme]
	} else if n, err := strconv.Atoi(o.Port); err != nil || n < 1 || n > 65535 {
		return Origin{}, fmt.Errorf("%w: %q: port must be a number from 1 to 65535", ErrOrigin, s)
	}
	return o, nil
}

// String writes o as browsers do: without the scheme's default port.
func (o Origin) String() string {
	if o.Port == map[string]string{"http": "80", "https": "443"}[o.Scheme] {
		return o.Scheme + "://" + hostForURL(o.Host)
	}
	return o.Scheme + "://" + net.JoinHostPort(o.Host, o.Port)
}

func hostForURL(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// SameHost reports whether o names the host of hostport (a Host header:
// host or host:port), ignoring the port.
func (o Origin) SameHost(hostport string) bool {
	host, _ := splitHost(hostport)
	return o.Host == host
}

// SameHostPort reports whether o names the host and port of hostport (a
// Host header); a Host without a port means the default port of o's
// scheme, the one a browser at o would have used.
func (o Origin) SameHostPort(hostport string) bool {
	host, port := splitHost(hostport)
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[o.Scheme]
	}
	return o.Host == host && o.Port == port
}

// splitHost splits a Host header into its lower-case host (without IPv6
// brackets) and its port ("" when it names none).
func splitHost(hostport string) (host, port string) {
	hostport = strings.ToLower(hostport)
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return trimBrackets(hostport), ""
}
