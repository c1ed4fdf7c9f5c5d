package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// csp splits a Content-Security-Policy into its directives' sources.
func csp(policy string) map[string][]string {
	m := map[string][]string{}
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			m[strings.ToLower(f[0])] = f[1:]
		}
	}
	return m
}

// inlineCode finds what a strict policy (no 'unsafe-inline') would block in
// a page besides inline scripts: style elements and attributes, event
// handler attributes and javascript: URLs.
var inlineCode = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a <style> element", regexp.MustCompile(`(?i)<style\b`)},
	{"a style attribute", regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`)},
	{"an event handler attribute", regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)},
	{"a javascript: URL", regexp.MustCompile(`(?i)javascript:`)},
}

// scriptTag matches every <script …> start tag; one without src= (srcAttr)
// is inline.
var (
	scriptTag = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	srcAttr   = regexp.MustCompile(`(?i)\ssrc\s*=`)
)

// checkSecurityHeaders checks one answer's headers against the contract's
// Headers section: a CSP with default-src 'self', frame-ancestors (frame,
// or 'none'), connect-src the site and the result server's WebSocket
// (socket) only, nothing 'unsafe-…'; nosniff; a Referrer-Policy
// (referrer, when given, exactly); X-Frame-Options DENY unless framing is
// allowed. HTML bodies must hold no inline code.
func checkSecurityHeaders(t *testing.T, h http.Header, body []byte, socket string, frame []string, referrer string) {
	t.Helper()
	policy := h.Get("Content-Security-Policy")
	if policy == "" {
		t.Fatalf("no Content-Security-Policy")
	}
	d := csp(policy)
	if got := d["default-src"]; !slices.Equal(got, []string{"'self'"}) {
		t.Errorf("default-src %v, want 'self'", got)
	}
	if strings.Contains(policy, "unsafe-") || strings.Contains(policy, "*") || strings.Contains(policy, "data:") {
		t.Errorf("the policy allows more than it should: %s", policy)
	}
	for _, dir := range []string{"script-src", "style-src"} {
		if got := d[dir]; got != nil && !slices.Equal(got, []string{"'self'"}) {
			t.Errorf("%s %v, want 'self' only", dir, got)
		}
	}
	if got := d["connect-src"]; !slices.Equal(got, []string{"'self'", socket}) {
		t.Errorf("connect-src %v, want 'self' %s", got, socket)
	}
	wantFrame := frame
	if wantFrame == nil {
		wantFrame = []string{"'none'"}
	}
	if got := d["frame-ancestors"]; !slices.Equal(got, wantFrame) {
		t.Errorf("frame-ancestors %v, want %v", got, wantFrame)
	}
	xfo := h.Get("X-Frame-Options")
	if frame == nil && !strings.EqualFold(xfo, "DENY") {
		t.Errorf("X-Frame-Options %q, want DENY", xfo)
	}
	if frame != nil && xfo != "" {
		t.Errorf("X-Frame-Options %q on a page the operator lets %v frame: browsers that know it would refuse", xfo, frame)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
	rp := h.Get("Referrer-Policy")
	switch {
	case referrer != "" && rp != referrer:
		t.Errorf("Referrer-Policy %q, want %q", rp, referrer)
	case rp == "" || rp == "unsafe-url" || rp == "no-referrer-when-downgrade":
		t.Errorf("Referrer-Policy %q, want one that keeps addresses on this site", rp)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		return
	}
	for _, tag := range scriptTag.FindAll(body, -1) {
		if !srcAttr.Match(tag) {
			t.Errorf("an inline script: %s", tag)
		}
	}
	for _, ic := range inlineCode {
		if m := ic.re.Find(body); m != nil {
			t.Errorf("%s, which the policy blocks: %.120s", ic.what, m)
		}
	}
}

// TestSecurityHeadersEveryAnswer requests every route of both servers
// (pages, the manage page, QR images, static files, the API, CSV, 404s,
// refusals, health and metrics) and checks each answer's security headers
// and, for HTML, that nothing in it needs 'unsafe-inline'. The presenter
// view may be framed by the origins of PRESENT_FRAME_ANCESTORS, and only it.
func TestSecurityHeadersEveryAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	voteAddr, resultAddr, plainAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	const slides = "https://slides.example.com"
	result := e.startAt("result", resultAddr, "VOTE_URL=http://"+voteAddr, "PRESENT_FRAME_ANCESTORS="+slides)
	plain := e.startAt("result", plainAddr, "VOTE_URL=http://"+voteAddr)
	e.start("worker").waitReady()
	vote := e.startAt("vote", voteAddr, "RESULT_URL=http://"+resultAddr)
	for _, p := range []*proc{result, plain, vote} {
		p.waitReady()
	}
	p := createPoll(t, vote, pollDefs(t)["three"])
	waitPollKnown(t, result, p.ID)
	waitPollKnown(t, plain, p.ID)
	manage, err := url.Parse(p.ManageURL)
	if err != nil {
		t.Fatal(err)
	}

	const form, js = "application/x-www-form-urlencoded", "application/json"
	type route struct {
		method, path, ctype, body string
		headers                   []string
		want                      int
		frame                     []string
		referrer                  string
	}
	voteRoutes := []route{
		{method: "GET", path: "/", want: 200},
		{method: "GET", path: "/p/default", want: 200},
		{method: "GET", path: "/p/" + p.ID, want: 200},
		{method: "GET", path: "/new", want: 200},
		{method: "GET", path: manage.RequestURI(), want: 200, referrer: "no-referrer"},
		{method: "GET", path: "/p/" + p.ID + "/manage?token=wrong", want: 403, referrer: "no-referrer"},
		{method: "GET", path: "/p/" + p.ID + "/qr.svg", want: 200},
		{method: "GET", path: "/p/no-such-poll", want: 404},
		{method: "GET", path: "/no/such/page", want: 404},
		{method: "GET", path: "/static/vote.js", want: 200},
		{method: "GET", path: "/static/style.css", want: 200},
		{method: "GET", path: "/static/nothing.js", want: 404},
		{method: "GET", path: "/api/polls/" + p.ID, want: 200},
		{method: "GET", path: "/api/polls/no-such-poll", want: 404},
		{method: "POST", path: "/api/polls/" + p.ID + "/votes", ctype: js, body: `{"vote":"a"}`, want: 202},
		{method: "POST", path: "/api/polls/" + p.ID + "/votes", ctype: js, body: `{"vote":"z"}`, want: 400},
		{method: "POST", path: "/p/" + p.ID, ctype: form, body: "vote=b", want: 200},
		{method: "POST", path: "/p/" + p.ID, ctype: form, body: "vote=b", headers: []string{"Origin", "https://evil.example"}, want: 403},
		{method: "POST", path: "/p/" + p.ID, ctype: "text/plain", body: "vote=b", want: 415},
		{method: "POST", path: "/new", ctype: form, body: "question=", want: 400},
		{method: "GET", path: "/healthz", want: 200},
		{method: "GET", path: "/readyz", want: 200},
		{method: "GET", path: "/metrics", want: 200},
	}
	resultRoutes := func(frame []string) []route {
		return []route{
			{method: "GET", path: "/", want: 200},
			{method: "GET", path: "/p/default", want: 200},
			{method: "GET", path: "/p/" + p.ID, want: 200},
			{method: "GET", path: "/p/" + p.ID + "/present", want: 200, frame: frame},
			{method: "GET", path: "/p/no-such-poll/present", want: 404, frame: frame},
			{method: "GET", path: "/p/" + p.ID + "/qr.png", want: 200},
			{method: "GET", path: "/p/no-such-poll", want: 404},
			{method: "GET", path: "/no/such/page", want: 404},
			{method: "GET", path: "/static/result.js", want: 200},
			{method: "GET", path: "/static/style.css", want: 200},
			{method: "GET", path: "/api/tally", want: 200},
			{method: "GET", path: "/api/polls/" + p.ID + "/tally", want: 200},
			{method: "GET", path: "/api/polls/no-such-poll/tally", want: 404},
			{method: "GET", path: "/api/polls/" + p.ID + "/results.csv", want: 200},
			{method: "GET", path: "/ws", want: 426},
			{method: "GET", path: "/ws", headers: []string{"Origin", "https://evil.example"}, want: 403},
			{method: "GET", path: "/healthz", want: 200},
			{method: "GET", path: "/readyz", want: 200},
			{method: "GET", path: "/metrics", want: 200},
		}
	}
	socket := "ws://" + resultAddr
	servers := []struct {
		name   string
		p      *proc
		routes []route
		socket string
	}{
		{"vote", vote, voteRoutes, socket},
		{"result with PRESENT_FRAME_ANCESTORS", result, resultRoutes([]string{slides}), socket},
		{"result", plain, resultRoutes(nil), "ws://" + plainAddr},
	}
	for _, s := range servers {
		for _, r := range s.routes {
			t.Run(s.name+"/"+r.method+" "+r.path, func(t *testing.T) {
				code, body, h := request(t, noRedirects, r.method, s.p.url(r.path), r.ctype, r.body, r.headers...)
				if code != r.want {
					t.Errorf("got %d, want %d", code, r.want)
				}
				checkSecurityHeaders(t, h, body, s.socket, r.frame, r.referrer)
			})
		}
	}
}
