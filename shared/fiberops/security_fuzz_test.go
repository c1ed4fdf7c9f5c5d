package fiberops

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseOrigin feeds Origin headers and WS_ORIGINS entries to
// ParseOrigin. What it accepts is an http or https origin with a
// lower-case host of host characters and a port from 1 to 65535; written
// back with String it parses to the same origin, which names its own host
// and port.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"http://example.com", "HTTPS://Example.COM:443", "http://example.com:80/",
		"http://localhost:8080", "https://[::1]:8443", " http://10.0.0.2:8081 ", "null", "", "example.com",
		"ftp://example.com", "ws://example.com", "http://", "http://example.com/path", "http://example.com?",
		"http://example.com#", "http://user:secret@example.com", "http://example.com:0", "http://example.com:99999",
		"http://example.com:0080", "http://exa mple.com", "http://a;b.com", "http://[fe80::1%25eth0]:80",
		"http://example.com:80:80", "http:example.com", "http:///example.com", "http://\xff.com",
		"http://example.com\r\nX-Evil: 1", "http://[::ffff:127.0.0.1]", "https://xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOrigin(s)
		if err != nil {
			if !errors.Is(err, ErrOrigin) || o != (Origin{}) {
				t.Fatalf("ParseOrigin(%q) = %+v, %v; want the zero Origin and an ErrOrigin", s, o, err)
			}
			return
		}
		if o.Scheme != "http" && o.Scheme != "https" {
			t.Fatalf("ParseOrigin(%q): scheme %q", s, o.Scheme)
		}
		if o.Host == "" || o.Host != strings.ToLower(o.Host) || !hostChars(o.Host) {
			t.Fatalf("ParseOrigin(%q): host %q", s, o.Host)
		}
		if n, err := strconv.Atoi(o.Port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("ParseOrigin(%q): port %q", s, o.Port)
		}
		again, err := ParseOrigin(o.String())
		if err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %+v, written %q, parses to %+v, %v", s, o, o.String(), again, err)
		}
		hostport := net.JoinHostPort(o.Host, o.Port)
		if !o.SameHostPort(hostport) || !o.SameHost(hostport) || !o.SameHost(strings.ToUpper(o.Host)) {
			t.Fatalf("origin %+v does not name its own host and port %q", o, hostport)
		}
		if other := o.Port + "1"; o.SameHostPort(net.JoinHostPort(o.Host, other)) {
			t.Fatalf("origin %+v names port %s too", o, other)
		}
	})
}
