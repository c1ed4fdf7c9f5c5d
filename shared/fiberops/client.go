package fiberops

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/clientaddr"
)

// ClientAddr returns the address c's client connects from: the
// connection's peer, or, when the peer is one of the trusted proxies, the
// client they name in X-Forwarded-For (see clientaddr.Trusted.Client).
func ClientAddr(c *fiber.Ctx, trusted clientaddr.Trusted) netip.Addr {
	remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	if trusted.Len() == 0 {
		return remote.Unmap()
	}
	var forwarded []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		forwarded = append(forwarded, string(v))
	}
	return trusted.Client(remote, forwarded)
}

// ProxyConfig makes Fiber itself believe no forwarded header: its
// Protocol, Hostname and BaseURL would read several of them (X-Url-Scheme,
// X-Forwarded-Ssl, the leftmost X-Forwarded-Host) that common proxies pass
// on from the client. The scheme and host of a request come from Scheme,
// Host and BaseURL instead, which the Forwarded middleware sets.
func ProxyConfig(cfg *fiber.Config) {
	cfg.EnableTrustedProxyCheck = true
	cfg.TrustedProxies = nil
}

// Keys of the request's scheme and host in the context's locals.
const (
	schemeKey = "fiberops.scheme"
	hostKey   = "fiberops.host"
)

// Forwarded finds the scheme and host the browser used, once per request:
// those of the connection and its Host header, or, when the connection
// comes from one of the trusted proxies, the last X-Forwarded-Proto
// ("http" or "https" only) and the last X-Forwarded-Host (the values the
// nearest proxy wrote; what a client sent before them is ignored). The
// pages' links, QR codes, CSP and the cookies' Secure flag follow them.
func Forwarded(trusted clientaddr.Trusted) fiber.Handler {
	return func(c *fiber.Ctx) error {
		scheme, host := directScheme(c), string(c.Request().Host())
		if trusted.Len() > 0 {
			remote, _ := netip.AddrFromSlice(c.Context().RemoteIP())
			if trusted.Contains(remote) {
				if p := lastValue(c, fiber.HeaderXForwardedProto); p == "http" || p == "https" {
					scheme = p
				}
				if h := lastValue(c, fiber.HeaderXForwardedHost); h != "" && hostChars(h) {
					host = h
				}
			}
		}
		c.Locals(schemeKey, scheme)
		c.Locals(hostKey, host)
		return c.Next()
	}
}

// lastValue is the last comma-separated value of the last header named
// key, trimmed and lower-cased.
func lastValue(c *fiber.Ctx, key string) string {
	all := c.Request().Header.PeekAll(key)
	if len(all) == 0 {
		return ""
	}
	v := string(all[len(all)-1])
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func directScheme(c *fiber.Ctx) string {
	if c.Context().IsTLS() {
		return "https"
	}
	return "http"
}

// Scheme is the scheme the browser used ("http" or "https"), as Forwarded
// found it.
func Scheme(c *fiber.Ctx) string {
	if s, ok := c.Locals(schemeKey).(string); ok {
		return s
	}
	return directScheme(c)
}

// Host is the host (and port) the browser used, as Forwarded found it.
func Host(c *fiber.Ctx) string {
	if h, ok := c.Locals(hostKey).(string); ok {
		return h
	}
	return string(c.Request().Host())
}

// BaseURL is Scheme://Host.
func BaseURL(c *fiber.Ctx) string { return Scheme(c) + "://" + Host(c) }
