package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestSecurityForwardedHostIgnored: a client that sends X-Forwarded-Host
// and X-Forwarded-Proto straight to the servers cannot make a created
// poll's links, the vote page's QR code or CSP, or a results page name a
// host of its choosing; the same headers from a proxy in TRUSTED_PROXIES
// are believed.
func TestSecurityForwardedHostIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, _, vote := e.startAll()
	defs := pollDefs(t)
	forged := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}
	created := createPoll(t, vote, defs["three"], forged...)
	for _, u := range []string{created.VoteURL, created.ResultsURL, created.ManageURL} {
		if strings.Contains(u, "evil.example") || strings.HasPrefix(u, "https:") {
			t.Errorf("created poll link %q follows a client's X-Forwarded-Host/Proto", u)
		}
	}
	for _, tt := range []struct{ name, url string }{
		{"vote page", vote.url("/p/" + created.ID)},
		{"QR code", vote.url("/p/" + created.ID + "/qr.svg")},
		{"results page", result.url("/p/" + created.ID)},
		{"presenter", result.url("/p/" + created.ID + "/present")},
	} {
		code, body, header := request(t, http.DefaultClient, "GET", tt.url, "", "", forged...)
		if code != http.StatusOK {
			t.Fatalf("%s: got %d", tt.name, code)
		}
		if strings.Contains(string(body), "evil.example") || strings.Contains(header.Get("Content-Security-Policy"), "evil.example") {
			t.Errorf("%s: the answer names the client's X-Forwarded-Host", tt.name)
		}
	}

	// The same headers from a trusted proxy (this test's own address).
	trusting := e.start("vote", "TRUSTED_PROXIES=127.0.0.1")
	viaProxy := createPoll(t, trusting, defs["two"], forged...)
	if !strings.HasPrefix(viaProxy.VoteURL, "https://evil.example/") {
		t.Errorf("behind a trusted proxy: vote_url %q, want https://evil.example/…", viaProxy.VoteURL)
	}
}
