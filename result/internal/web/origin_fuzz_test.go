package web

import (
	"strings"
	"testing"

	"livevote/result/internal/config"
	"livevote/shared/fiberops"
)

// FuzzOriginAllowed feeds the Origin and Host headers of WebSocket
// handshakes, and WS_ORIGINS lists, to the origin check: a request without
// Origin (no browser) is served; a browser's only when its origin is one
// of WS_ORIGINS, or, with none set, of the host it connected to.
func FuzzOriginAllowed(f *testing.F) {
	for _, s := range [][3]string{
		{"", "results.example.com", ""},
		{"http://results.example.com:8080", "results.example.com:8081", ""},
		{"https://evil.example", "results.example.com", ""},
		{"null", "results.example.com", ""},
		{"https://vote.example.com", "results.example.com", "https://vote.example.com"},
		{"https://vote.example.com:443", "results.example.com", "https://vote.example.com"},
		{"http://vote.example.com", "results.example.com", "https://vote.example.com"},
		{"https://evil.example", "evil.example", "https://vote.example.com, http://localhost:8080"},
		{"http://RESULTS.example.com", "results.example.COM", ""},
		{"http://[::1]:8080", "[::1]:8081", ""},
		{"http://]", "]", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, origin, host, list string) {
		var allowed []fiberops.Origin
		if strings.TrimSpace(list) != "" {
			for _, part := range strings.Split(list, ",") {
				o, err := fiberops.ParseOrigin(part)
				if err != nil {
					t.Skip("not a WS_ORIGINS the configuration takes")
				}
				allowed = append(allowed, o)
			}
		}
		s := &server{cfg: config.Config{WSOrigins: allowed}}
		got := s.originAllowed(origin, host)
		if origin == "" {
			if !got {
				t.Fatalf("a handshake without Origin refused")
			}
			return
		}
		if !got {
			return
		}
		o, err := fiberops.ParseOrigin(origin)
		if err != nil {
			t.Fatalf("origin %q allowed, but it is no origin: %v", origin, err)
		}
		if allowed == nil {
			if !o.SameHost(host) {
				t.Fatalf("origin %q allowed on host %q, with WS_ORIGINS unset", origin, host)
			}
			return
		}
		for _, a := range allowed {
			if a == o {
				return
			}
		}
		t.Fatalf("origin %q allowed, not in WS_ORIGINS %q", origin, list)
	})
}
