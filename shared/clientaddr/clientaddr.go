// Package clientaddr finds the address a request comes from, for the vote
// server's rate limits and the result server's caps on sockets per
// address: the connection's own, or, behind proxies the operator trusts
// (TRUSTED_PROXIES), the one they name in X-Forwarded-For.
package clientaddr

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrSyntax is wrapped by every error of ParseTrusted.
var ErrSyntax = errors.New("clientaddr: want comma-separated IP addresses or CIDR prefixes")

// Trusted is the set of proxies whose X-Forwarded-For is believed. The
// zero Trusted believes none.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted reads a comma-separated list of IP addresses and CIDR
// prefixes ("10.0.0.0/8, 192.0.2.7, fd00::/8"); "" is none.
func ParseTrusted(s string) (Trusted, error) {
	var t Trusted
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(part, "/") {
			var err error
			if p, err = netip.ParsePrefix(part); err != nil {
				return Trusted{}, fmt.Errorf("%w: %q: %w", ErrSyntax, part, err)
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(part)
			if err != nil || a.Zone() != "" {
				return Trusted{}, fmt.Errorf("%w: %q is not an IP address", ErrSyntax, part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Addresses are compared unmapped (see unmap).
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

// Len is how many addresses and prefixes t holds.
func (t Trusted) Len() int { return len(t.prefixes) }

// Strings returns t's prefixes as CIDR strings (an address as its /32 or
// /128), the form Fiber's TrustedProxies takes: the servers believe a
// request's X-Forwarded-Host and X-Forwarded-Proto only from these.
func (t Trusted) Strings() []string {
	out := make([]string, len(t.prefixes))
	for i, p := range t.prefixes {
		out[i] = p.String()
	}
	return out
}

// Contains reports whether a (a connection's peer) is one of the trusted
// proxies.
func (t Trusted) Contains(a netip.Addr) bool { return t.contains(a.Unmap()) }

func (t Trusted) contains(a netip.Addr) bool {
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client's address: remote (the connection's peer)
// unless it is a trusted proxy; then X-Forwarded-For (its values in the
// order of the headers) read from the right, skipping trusted hops: the
// first address that is not trusted is the client. When every hop is
// trusted, the leftmost is; when a hop is not an address, the hop before
// it (to its right) is the client, since whatever lies left of a
// malformed entry was written by no one we trust.
func (t Trusted) Client(remote netip.Addr, forwardedFor []string) netip.Addr {
	client := unmap(remote)
	if !t.contains(client) {
		return client
	}
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		hops := strings.Split(forwardedFor[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop := strings.TrimSpace(hops[j])
			if hop == "" {
				continue
			}
			a, err := netip.ParseAddr(hop)
			if err != nil {
				return client
			}
			client = unmap(a.WithZone(""))
			if !t.contains(client) {
				return client
			}
		}
	}
	return client
}

// unmap makes an IPv4 address seen over IPv6 (::ffff:a.b.c.d) plain IPv4,
// so that both count as the same client.
func unmap(a netip.Addr) netip.Addr { return a.Unmap() }

// Key is the rate limits' name for the client at a: an IPv4 address
// itself, an IPv6 address's /64 (one household or device usually holds a
// whole /64, so counting each address apart would let it pick new ones).
func Key(a netip.Addr) string {
	a = unmap(a)
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}
