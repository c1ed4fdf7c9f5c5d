package fiberops

import (
	"net/netip"

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

// ProxyConfig sets app config so that the request's scheme and host
// (Protocol, Hostname: the pages' links, QR codes and CSP) follow
// X-Forwarded-Proto and X-Forwarded-Host only from the trusted proxies;
// from anyone else those headers are ignored, so a client cannot make a
// page or a cached QR code name a host of its choosing.
func ProxyConfig(cfg *fiber.Config, trusted clientaddr.Trusted) {
	cfg.EnableTrustedProxyCheck = true
	cfg.TrustedProxies = trusted.Strings()
}
