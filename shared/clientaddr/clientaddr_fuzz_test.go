package clientaddr

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseTrusted feeds TRUSTED_PROXIES values to ParseTrusted: it
// accepts a list only when every entry is an address or a prefix, holds
// one prefix per entry, and trusts each address it was given.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8, 192.0.2.7, fd00::/8", "127.0.0.1", "::1", "::ffff:10.0.0.1",
		"::ffff:10.0.0.0/104", "10.0.0.1/33", "10.0.0.300", "fe80::1%eth0", "fe80::1%eth0/64", " , ,", "0.0.0.0/0",
		"::/0", "10.0.0.1/-1", "10.0.0.1/8/8", "localhost", "010.0.0.1", "1.2.3.4 5.6.7.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTrusted(s)
		var entries []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				entries = append(entries, p)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) || tr.Len() != 0 {
				t.Fatalf("ParseTrusted(%q) = %d prefixes, %v; want none and ErrSyntax", s, tr.Len(), err)
			}
			return
		}
		if tr.Len() != len(entries) {
			t.Fatalf("ParseTrusted(%q) holds %d prefixes, want %d", s, tr.Len(), len(entries))
		}
		for _, e := range entries {
			a, err := netip.ParseAddr(e)
			if strings.Contains(e, "/") {
				p, perr := netip.ParsePrefix(e)
				if perr != nil {
					t.Fatalf("ParseTrusted(%q) accepted %q, not a prefix: %v", s, e, perr)
				}
				if p.Addr().Is4In6() && p.Bits() < 96 {
					// Wider than the mapped IPv4 addresses, which are
					// compared unmapped: what it means is the operator's
					// guess.
					continue
				}
				a, err = p.Addr(), nil
			}
			if err != nil {
				t.Fatalf("ParseTrusted(%q) accepted %q, not an address: %v", s, e, err)
			}
			if !tr.contains(a.Unmap()) {
				t.Fatalf("ParseTrusted(%q) does not trust %s, which it was given", s, a)
			}
		}
	})
}

// FuzzClient feeds X-Forwarded-For headers to Client. The client found is
// an address, not IPv4-mapped: the connection's own, or one the headers
// name (without its zone); a peer that is not a trusted proxy is the client
// whatever it sends; and what a client writes in front of a chain of
// trusted proxies never changes who it is.
func FuzzClient(f *testing.F) {
	f.Add("10.0.0.0/8", "10.0.0.2", "203.0.113.9", "", "198.51.100.1")
	f.Add("10.0.0.0/8", "10.0.0.2", "203.0.113.9, 10.0.0.5", "10.0.0.6", "1.1.1.1")
	f.Add("10.0.0.0/8", "10.0.0.2", "10.0.0.7, 10.0.0.5", "", "")
	f.Add("10.0.0.0/8", "203.0.113.9", "10.0.0.7", "", "1.1.1.1")
	f.Add("10.0.0.0/8", "10.0.0.2", "junk, 203.0.113.9", "", "")
	f.Add("10.0.0.0/8", "10.0.0.2", "203.0.113.9, junk", "", "")
	f.Add("10.0.0.0/8, ::ffff:0:0/96", "::ffff:10.0.0.2", "::ffff:203.0.113.9", "", "")
	f.Add("::1", "::1", "fe80::1%eth0", "", "2001:db8::1")
	f.Add("", "192.0.2.1", "203.0.113.9", "", "")
	f.Add("0.0.0.0/0, ::/0", "192.0.2.1", "203.0.113.9,,", " , 198.51.100.7 ", "")
	f.Fuzz(func(t *testing.T, trusted, remote, xff1, xff2, forged string) {
		tr, err := ParseTrusted(trusted)
		if err != nil {
			return
		}
		peer, err := netip.ParseAddr(remote)
		if err != nil {
			return
		}
		xff := []string{xff1, xff2}
		got := tr.Client(peer, xff)
		if !got.IsValid() || got.Is4In6() {
			t.Fatalf("Client(%s, %q) = %v", peer, xff, got)
		}
		if !tr.contains(peer.Unmap()) && got != peer.Unmap() {
			t.Fatalf("untrusted peer %s sending %q: client %v, want the peer", peer, xff, got)
		}
		if got != peer.Unmap() && (got.Zone() != "" || !named(got, xff)) {
			t.Fatalf("Client(%s, %q) = %v, which neither the peer nor the headers name", peer, xff, got)
		}
		if !tr.contains(got) {
			withForged := tr.Client(peer, append([]string{forged}, xff...))
			if withForged != got {
				t.Fatalf("Client(%s, %q) = %v, but %v once the client writes %q in front", peer, xff, got, withForged, forged)
			}
			withForged = tr.Client(peer, []string{forged + "," + xff1, xff2})
			if withForged != got {
				t.Fatalf("Client(%s, %q) = %v, but %v once the client writes %q in front", peer, xff, got, withForged, forged)
			}
		}
	})
}

// named reports whether a is one of the hops of the headers.
func named(a netip.Addr, headers []string) bool {
	for _, h := range headers {
		for _, hop := range strings.Split(h, ",") {
			if b, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && b.WithZone("").Unmap() == a {
				return true
			}
		}
	}
	return false
}
