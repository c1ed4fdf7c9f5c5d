package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"livevote/shared/poll"
)

// cspDirectives are what every answer's Content-Security-Policy must hold
// (connect-src is checked on its own: it names the result server).
var cspDirectives = []string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
	"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"}

// TestSecurityHeadersOnEveryAnswer: pages, errors, the API, static files
// and the health routes all carry the headers, and the pages may connect to
// the result server's WebSocket where they open it.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	for _, env := range []struct {
		name, socket string
		vars         []string
	}{
		{"peer at the page's host", "ws://example.com:8081", nil},
		{"RESULT_URL", "wss://results.example.org", []string{"RESULT_URL", "https://results.example.org/live"}},
	} {
		q := &fakeStore{}
		a := newTestApp(t, q, env.vars...)
		p := a.createPoll("Red", "Green")
		for _, tt := range []struct {
			method, path, ctype, body string
			code                      int
			referrer                  string
		}{
			{"GET", "/", "", "", 200, "same-origin"},
			{"GET", "/p/" + p.ID, "", "", 200, "same-origin"},
			{"GET", "/new", "", "", 200, "same-origin"},
			{"GET", "/p/" + p.ID + "/manage?token=" + url.QueryEscape(p.ManageToken), "", "", 200, "no-referrer"},
			{"GET", "/p/" + p.ID + "/manage?token=wrong", "", "", 403, "no-referrer"},
			{"GET", "/p/" + p.ID + "/qr.svg", "", "", 200, "same-origin"},
			{"GET", "/p/nope", "", "", 404, "same-origin"},
			{"GET", "/no/such/page", "", "", 404, "same-origin"},
			{"POST", "/", formType, "vote=a", 200, "same-origin"},
			{"POST", "/", "text/plain", "vote=a", 415, "same-origin"},
			{"GET", "/api/polls/" + p.ID, "", "", 200, "same-origin"},
			{"GET", "/api/polls/nope", "", "", 404, "same-origin"},
			{"POST", "/api/vote", jsonType, `{"vote":"a"}`, 202, "same-origin"},
			{"POST", "/api/vote", jsonType, `{"vote":"z"}`, 400, "same-origin"},
			{"GET", "/static/style.css", "", "", 200, "same-origin"},
			{"GET", "/static/tally.js", "", "", 200, "same-origin"},
			{"GET", "/static/nope.js", "", "", 404, "same-origin"},
			{"GET", "/healthz", "", "", 200, "same-origin"},
			{"GET", "/readyz", "", "", 200, "same-origin"},
			{"GET", "/metrics", "", "", 200, "same-origin"},
		} {
			t.Run(env.name+" "+tt.method+" "+tt.path, func(t *testing.T) {
				resp, _ := a.do(tt.method, tt.path, tt.ctype, tt.body)
				if resp.StatusCode != tt.code {
					t.Errorf("status: got %d, want %d", resp.StatusCode, tt.code)
				}
				csp := resp.Header.Get("Content-Security-Policy")
				for _, want := range append(cspDirectives, "connect-src 'self' "+env.socket+";") {
					if !strings.Contains(csp, want) {
						t.Errorf("Content-Security-Policy: got %q, want it to hold %q", csp, want)
					}
				}
				if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
					t.Errorf("Content-Security-Policy: got %q, want nothing unsafe or wild", csp)
				}
				if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
				}
				if got := resp.Header.Get("Referrer-Policy"); got != tt.referrer {
					t.Errorf("Referrer-Policy: got %q, want %q", got, tt.referrer)
				}
			})
		}
	}
}

// TestCrossSitePostsRefused: every post a browser sends from another site
// gets 403 and records nothing; posts from this site's pages and from
// programs (no Origin, no Sec-Fetch-Site) are served.
func TestCrossSitePostsRefused(t *testing.T) {
	type post struct{ name, path, ctype, body string }
	posts := func(p poll.Created) []post {
		manage := "token=" + url.QueryEscape(p.ManageToken) + "&action=close"
		return []post{
			{"form vote /", "/", formType, "vote=a"},
			{"form vote /p/id", "/p/" + p.ID, formType, "vote=b"},
			{"multipart vote", "/p/" + p.ID, "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"vote\"\r\n\r\na\r\n--X--\r\n"},
			{"API vote", "/api/vote", jsonType, `{"vote":"a"}`},
			{"API poll vote", "/api/polls/" + p.ID + "/votes", jsonType, `{"vote":"a"}`},
			{"new poll form", "/new", formType, "question=Q&option=X&option=Y"},
			{"API create", "/api/polls", jsonType, `{"question":"Q","options":["X","Y"]}`},
			{"manage form", "/p/" + p.ID + "/manage", formType, manage},
			{"API close", "/api/polls/" + p.ID + "/close", jsonType, ""},
		}
	}
	// The requests go to http://example.com (httptest's host).
	refused := []struct{ name, origin, fetchSite string }{
		{"foreign Origin", "https://evil.example", ""},
		{"Origin null", "null", ""},
		{"Origin null from a sibling site", "null", "same-site"},
		{"Origin null cross-site", "null", "cross-site"},
		{"Origin malformed", "not an origin", ""},
		{"Origin of another port", "http://example.com:8081", ""},
		{"Origin of a suffix host", "http://example.com.evil.example", ""},
		{"Sec-Fetch-Site cross-site", "", "cross-site"},
		{"cross-site with a same Origin", "http://example.com", "cross-site"},
		{"same-origin with a foreign Origin", "https://evil.example", "same-origin"},
	}
	for _, rc := range refused {
		for i, named := range posts(poll.Created{}) {
			t.Run(rc.name+" "+named.name, func(t *testing.T) {
				q := &fakeStore{}
				a := newTestApp(t, q)
				p := a.createPoll("Red", "Green")
				pp := posts(p)[i]
				req := newRequest("POST", pp.path, pp.ctype, pp.body)
				setSite(req, rc.origin, rc.fetchSite)
				req.Header.Set("Authorization", "Bearer "+p.ManageToken)
				resp, body := a.send(req)
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("got %d %s, want 403", resp.StatusCode, body)
				}
				if strings.HasPrefix(pp.path, "/api/") {
					var e errorBody
					if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, "cross-site") {
						t.Errorf("API body %q, want {\"error\": …cross-site…}", body)
					}
				} else if !strings.Contains(body, "another site") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
					t.Errorf("page body %q, want a page saying it came from another site", body)
				}
				if got := q.votes(); len(got) != 0 {
					t.Errorf("recorded %v, want nothing", got)
				}
				if n := len(q.polls); n != 1 {
					t.Errorf("%d polls, want only the first", n)
				}
				if st := q.polls[p.ID].State; st != poll.StateOpen {
					t.Errorf("poll state %s, want still open", st)
				}
			})
		}
	}
	allowed := []struct{ name, origin, fetchSite string }{
		{"no Origin, no Sec-Fetch-Site", "", ""},
		{"same Origin", "http://example.com", "same-origin"},
		{"same Origin with its default port", "http://example.com:80", ""},
		{"same-site", "http://example.com", "same-site"},
		{"typed address", "", "none"},
		// A page of this origin under Referrer-Policy no-referrer (the
		// manage page): Chromium sends Origin null.
		{"same-origin page with no-referrer", "null", "same-origin"},
	}
	for _, ac := range allowed {
		t.Run(ac.name, func(t *testing.T) {
			q := &fakeStore{}
			a := newTestApp(t, q)
			p := a.createPoll("Red", "Green")
			for _, pp := range posts(p) {
				req := newRequest("POST", pp.path, pp.ctype, pp.body)
				setSite(req, ac.origin, ac.fetchSite)
				req.Header.Set("Authorization", "Bearer "+p.ManageToken)
				if resp, body := a.send(req); resp.StatusCode >= 400 {
					t.Errorf("%s: got %d %s, want it served", pp.name, resp.StatusCode, body)
				}
			}
			if got := len(q.votes()); got != 5 {
				t.Errorf("recorded %d votes, want 5", got)
			}
			if got := len(q.polls); got != 3 {
				t.Errorf("%d polls, want 3 (two created by the posts)", got)
			}
			if got := q.polls[p.ID].State; got != poll.StateClosed {
				t.Errorf("poll state %s, want closed", got)
			}
		})
	}
}

func setSite(req *http.Request, origin, fetchSite string) {
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if fetchSite != "" {
		req.Header.Set("Sec-Fetch-Site", fetchSite)
	}
}

// TestForwardedHostOnlyFromTrustedProxies: X-Forwarded-Host and
// X-Forwarded-Proto name the links, QR codes and CSP of a page only when
// they come from a proxy in TRUSTED_PROXIES; from anyone else they are
// ignored, so a client cannot make a page (or a cached QR code) point at
// a host of its choosing.
func TestForwardedHostOnlyFromTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name, proxies string
		want, notWant string
	}{
		// app.Test's connections come from 0.0.0.0.
		{"untrusted", "", "http://vote.example:8080/p/", "evil.example"},
		{"other proxy trusted", "10.0.0.0/8", "http://vote.example:8080/p/", "evil.example"},
		{"trusted", "0.0.0.0", "https://evil.example/p/", "vote.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, &fakeStore{}, "TRUSTED_PROXIES", tt.proxies)
			req := newRequest("POST", "/api/polls", "application/json", `{"question":"Which?","options":["Red","Blue"]}`)
			req.Host = "vote.example:8080"
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, body := a.send(req)
			if resp.StatusCode != 201 {
				t.Fatalf("create: got %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, `"vote_url":"`+tt.want) || strings.Contains(body, tt.notWant) {
				t.Errorf("create: got %s, want vote_url %s… and no %s", body, tt.want, tt.notWant)
			}
			req = newRequest("GET", "/", "", "")
			req.Host = "vote.example:8080"
			req.Header.Set("X-Forwarded-Host", "evil.example")
			resp, _ = a.send(req)
			if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, tt.notWant) {
				t.Errorf("CSP: got %q, want no %s", csp, tt.notWant)
			}
		})
	}
}

// TestVoterIDOnlyForPagesOpened: a page fetched as an image or a script
// (another site's <img src> pointing here) gets no voter id, so it spends
// none of the address's new-voter budget; a page a person opens does.
func TestVoterIDOnlyForPagesOpened(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	for _, tt := range []struct {
		dest string
		want bool
	}{
		{"", true},
		{"document", true},
		{"image", false},
		{"script", false},
		{"iframe", false},
	} {
		req := newRequest("GET", "/", "", "")
		if tt.dest != "" {
			req.Header.Set("Sec-Fetch-Dest", tt.dest)
		}
		resp, _ := a.send(req)
		if got := cookie(resp, voterCookie) != nil; got != tt.want {
			t.Errorf("Sec-Fetch-Dest %q: voter id set %v, want %v", tt.dest, got, tt.want)
		}
	}
}
