package fiberops

import (
	"net"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/i18n"
)

// PeerURL returns where a browser reaches the other server (the result
// server from the vote page, the vote server from the results): configured
// when an operator set it (RESULT_URL, VOTE_URL), else the scheme and host
// this request was made to with the given port. So with the defaults the
// pages work at whatever address the machine was opened at.
func PeerURL(c *fiber.Ctx, configured *url.URL, port string) *url.URL {
	if configured != nil {
		u := *configured
		return &u
	}
	host := Host(c)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	return &url.URL{Scheme: Scheme(c), Host: net.JoinHostPort(trimBrackets(host), port)}
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// SocketURL turns a server's base URL into its WebSocket URL for pollID:
// ws(s)://host/prefix/ws?poll=pollID.
func SocketURL(base *url.URL, pollID string) string {
	u := *base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws"
	u.RawQuery = url.Values{"poll": {pollID}}.Encode()
	u.Fragment = ""
	return u.String()
}

// Lang returns the language of the page for this request (see
// i18n.Negotiate); a ?lang= switch is remembered in a cookie for a year.
func Lang(c *fiber.Ctx) string {
	q := c.Query("lang")
	lang := i18n.Negotiate(q, c.Cookies(i18n.CookieName), c.Get(fiber.HeaderAcceptLanguage))
	if q == lang && c.Cookies(i18n.CookieName) != lang {
		c.Cookie(&fiber.Cookie{
			Name: i18n.CookieName, Value: lang, Path: "/", MaxAge: 365 * 24 * 60 * 60,
			SameSite: fiber.CookieSameSiteLaxMode, Secure: Scheme(c) == "https",
		})
	}
	c.Vary(fiber.HeaderAcceptLanguage, fiber.HeaderCookie)
	return lang
}
