package web

import (
	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
)

// refuseCrossSite answers 403, before any handler reads the request, to a
// post that a browser sent from another site: a hidden form or a script on
// any page could otherwise cast votes, create polls or close them for each
// of its visitors. Browsers name where a request comes from in
// Sec-Fetch-Site and Origin; a request with neither (curl, other programs)
// is no browser's and is served.
func refuseCrossSite(d *deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
			return c.Next()
		}
		if !crossSite(c.Get("Sec-Fetch-Site"), c.Get(fiber.HeaderOrigin), fiberops.Host(c)) {
			return c.Next()
		}
		d.metrics.crossSite.Inc()
		if isAPI(c) {
			return apiError(c, fiber.StatusForbidden, "refused: a cross-site request (its Origin or Sec-Fetch-Site is not this site); nothing was recorded")
		}
		lg := lang(c)
		return d.message(c, fiber.StatusForbidden, lg, catalog.T(lg, "crosssite.title"), catalog.T(lg, "crosssite.text"))
	}
}

// crossSite reports whether a request that may change something comes from
// another site: Sec-Fetch-Site other than same-origin, same-site or none (a
// typed address or a bookmark), or an Origin that is not this server's own
// host and port (host, from the Host header). Origin "null" (sandboxed
// frames, pages with Referrer-Policy no-referrer) is refused, but for one
// case: browsers send it from a page of this very origin whose policy is
// no-referrer (the manage page, which keeps its token out of Referer), and
// say so in Sec-Fetch-Site, which no page can set. A sibling site's page
// with the same policy is "same-site", so it stays refused.
func crossSite(fetchSite, origin, host string) bool {
	switch fetchSite {
	case "", "same-origin", "same-site", "none":
	default:
		return true
	}
	if origin == "" || origin == "null" && fetchSite == "same-origin" {
		return false
	}
	o, err := fiberops.ParseOrigin(origin)
	return err != nil || !o.SameHostPort(host)
}
