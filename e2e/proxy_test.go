package e2e

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"livevote/shared/servicetest"
)

// frontProxy is one origin in front of both servers, as an operator puts
// nginx or an Ingress there: /results and /results/… go to the result
// server unchanged (it runs with RESULT_PATH_PREFIX=/results), everything
// else to the vote server. It is Go's own reverse proxy, which passes
// WebSocket upgrades through.
type frontProxy struct {
	srv    *httptest.Server
	origin string // http://127.0.0.1:port
	errs   *servicetest.LockedBuffer

	mu sync.Mutex
	// sockets counts the WebSocket handshakes the servers answered 101
	// through the proxy, by path and query.
	sockets map[string]int
}

// startFrontProxy serves on ln, so that the servers can be told the
// proxy's origin before it starts.
func startFrontProxy(t *testing.T, ln net.Listener, vote, result *proc) *frontProxy {
	t.Helper()
	fp := &frontProxy{origin: "http://" + ln.Addr().String(), errs: &servicetest.LockedBuffer{}, sockets: map[string]int{}}
	toVote, toResult := fp.reverseProxy(vote), fp.reverseProxy(result)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/results" || strings.HasPrefix(r.URL.Path, "/results/") {
			toResult.ServeHTTP(w, r)
			return
		}
		toVote.ServeHTTP(w, r)
	})
	fp.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler, ErrorLog: log.New(fp.errs, "", 0)}}
	fp.srv.Start()
	t.Cleanup(func() {
		fp.srv.CloseClientConnections()
		fp.srv.Close()
		if t.Failed() {
			t.Logf("--- proxy errors:\n%s", tail(fp.errs.String(), 30))
		}
	})
	return fp
}

// reverseProxy forwards to p as a real proxy does: the path unchanged, the
// Host the browser used kept (the servers build their links and check
// WebSocket origins with it), X-Forwarded-For appended to (nginx's
// $proxy_add_x_forwarded_for), X-Forwarded-Host and -Proto set.
func (fp *frontProxy) reverseProxy(p *proc) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "http", Host: p.addr}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			// Rewrite starts from an outbound request without the client's
			// X-Forwarded-For; SetXForwarded appends the client to it.
			if prior := r.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
				r.Out.Header["X-Forwarded-For"] = prior
			}
			r.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				fp.mu.Lock()
				fp.sockets[resp.Request.URL.RequestURI()]++
				fp.mu.Unlock()
			}
			return nil
		},
		ErrorLog: log.New(fp.errs, p.name+": ", 0),
	}
}

// socketsOpened is how many WebSockets the proxy has passed to path?query.
func (fp *frontProxy) socketsOpened(uri string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.sockets[uri]
}

// clientFrom is an HTTP client (with its own cookie jar) whose connections
// leave from the loopback address ip: another machine, as far as the
// servers and the proxy can tell.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: tr}
}

// TestBrowserBehindReverseProxy runs the three binaries behind one reverse
// proxy on one origin, configured as the README says (RESULT_PATH_PREFIX
// on the result server, RESULT_URL and VOTE_URL naming the proxy,
// TRUSTED_PROXIES on the vote server), and uses everything through the
// proxy only. Over plain HTTP: the pages render links and the WebSocket
// address at the proxy's origin, a poll created through it links there,
// the tally API and the CSV answer under /results, and the vote server's
// rate limit counts each client the proxy names in X-Forwarded-For (a
// client cannot pass itself off as another, neither through the proxy nor
// by sending X-Forwarded-For to the vote server directly). In Chromium:
// the vote page's live tally connects through the proxy's /results/ws, a
// vote moves it and the results page without a reload; a poll's results
// page and presenter view follow a vote from the first tab; every link and
// the QR code lead to the proxy's origin, every resource came from it; no
// console error, CSP violation or uncaught exception.
func TestBrowserBehindReverseProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	result := e.start("result", "RESULT_PATH_PREFIX=/results", "VOTE_URL="+origin)
	worker := e.start("worker")
	vote := e.start("vote", "RESULT_URL="+origin+"/results", "TRUSTED_PROXIES=127.0.0.1", "RATE_LIMIT_VOTES=2/m")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}
	fp := startFrontProxy(t, ln, vote, result)
	// The harness's helpers take a proc for its address; these two are the
	// proxy's origin, the vote side at its root and the results under
	// /results.
	site := &proc{t: t, name: "proxy", addr: ln.Addr().String()}
	results := &proc{t: t, name: "proxy /results", addr: ln.Addr().String() + "/results"}
	wsOrigin := "ws://" + ln.Addr().String()

	// The pages as served through the proxy.
	code, body, h := request(t, nil, http.MethodGet, origin+"/", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s/: got %d, want 200: %s", origin, code, firstN(string(body), 300))
	}
	for _, want := range []string{
		`data-socket="` + wsOrigin + `/results/ws?poll=default"`,
		`href="` + origin + `/results/"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the vote page through the proxy lacks %s", want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+wsOrigin+";") {
		t.Errorf("the vote page's Content-Security-Policy is %q, want connect-src 'self' %s", csp, wsOrigin)
	}
	for _, path := range []string{"/results", "/results/"} {
		code, body, h := request(t, nil, http.MethodGet, origin+path, "", "")
		if code != http.StatusOK {
			t.Errorf("GET %s%s: got %d, want 200: %s", origin, path, code, firstN(string(body), 300))
			continue
		}
		for _, want := range []string{`data-base="/results"`, `href="/results/static/style.css"`, `href="` + origin + `/"`, `href="` + origin + `/new"`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("GET %s%s: the results page lacks %s", origin, path, want)
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+wsOrigin+";") {
			t.Errorf("GET %s%s: Content-Security-Policy %q, want connect-src 'self' %s", origin, path, csp, wsOrigin)
		}
	}
	if tl := apiTally(t, results); tl.Total != 0 || len(tl.Counts) != 2 {
		t.Errorf("%s/results/api/tally: got %+v, want options a and b at 0", origin, tl)
	}

	// Polls created through the proxy link to it.
	p := createPoll(t, site, pollDefs(t)["three"])
	for name, c := range map[string][2]string{
		"vote_url":    {p.VoteURL, origin + "/p/" + p.ID},
		"results_url": {p.ResultsURL, origin + "/results/p/" + p.ID},
		"manage_url":  {p.ManageURL, origin + "/p/" + p.ID + "/manage?token="},
	} {
		if !strings.HasPrefix(c[0], c[1]) || name != "manage_url" && c[0] != c[1] {
			t.Errorf("poll created through the proxy: %s is %q, want %s", name, c[0], c[1])
		}
	}
	waitPollKnown(t, results, p.ID)
	limited := createPoll(t, site, pollDefs(t)["three"])
	waitPollKnown(t, results, limited.ID)

	t.Run("rate limits see the client the proxy names", func(t *testing.T) {
		checkForwardedClients(t, site, vote, results, limited.ID)
	})

	t.Run("browser", func(t *testing.T) {
		driveThroughProxy(t, fp, p.ID)
	})

	// The browser's vote, and the CSV through the proxy.
	waitFor(t, 15*time.Second, "the browser's vote in the poll's tally through the proxy", func() bool {
		_, tl := readPollTally(t, results, p.ID)
		return sameCounts(tl, map[string]int64{"a": 0, "b": 1, "c": 0})
	})
	ct, recs := resultsCSV(t, results, p.ID)
	if !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("results.csv through the proxy: Content-Type %q, want text/csv", ct)
	}
	wantCSV := [][]string{{"option", "label", "votes", "percent"}, {"a", "Go, in depth", "0", "0"}, {"b", `Redis "streams"`, "1", "100"}, {"c", "PostgreSQL", "0", "0"}}
	if fmt.Sprint(recs) != fmt.Sprint(wantCSV) {
		t.Errorf("results.csv through the proxy: got %q, want %q", recs, wantCSV)
	}
}

// checkForwardedClients votes in poll id as three machines with
// RATE_LIMIT_VOTES=2/m: A and B through the proxy (which names them in
// X-Forwarded-For), C straight to the vote server's port. Each gets its
// own two votes; A's third is refused, also when A names another address
// in its own X-Forwarded-For (the proxy appends A after it); C's
// X-Forwarded-For is no one's word, naming B or a fresh address.
func checkForwardedClients(t *testing.T, site, vote, results *proc, id string) {
	a, b, c := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3"), clientFrom(t, "127.0.0.4")
	viaProxy, direct := site.url("/api/polls/"+id+"/votes"), vote.url("/api/polls/"+id+"/votes")
	steps := []struct {
		who    string
		client *http.Client
		target string
		xff    string
		option string
		want   int
	}{
		{"A through the proxy", a, viaProxy, "", "a", http.StatusAccepted},
		{"A through the proxy", a, viaProxy, "", "b", http.StatusAccepted},
		{"A through the proxy, a third vote", a, viaProxy, "", "c", http.StatusTooManyRequests},
		{"A through the proxy naming another address", a, viaProxy, "198.51.100.7", "c", http.StatusTooManyRequests},
		{"B through the proxy", b, viaProxy, "", "a", http.StatusAccepted},
		{"B through the proxy", b, viaProxy, "", "a", http.StatusAccepted},
		{"B through the proxy, a third vote", b, viaProxy, "", "b", http.StatusTooManyRequests},
		{"C at the vote port naming B", c, direct, "127.0.0.3", "b", http.StatusAccepted},
		{"C at the vote port naming B", c, direct, "127.0.0.3", "c", http.StatusAccepted},
		{"C at the vote port naming a fresh address", c, direct, "198.51.100.9", "a", http.StatusTooManyRequests},
	}
	for i, s := range steps {
		var headers []string
		if s.xff != "" {
			headers = []string{"X-Forwarded-For", s.xff}
		}
		code, body, h := request(t, s.client, http.MethodPost, s.target, "application/json", `{"vote":"`+s.option+`"}`, headers...)
		if code != s.want {
			t.Errorf("step %d, %s: vote %s got %d %s, want %d", i+1, s.who, s.option, code, body, s.want)
		}
		if code == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
			t.Errorf("step %d, %s: 429 without Retry-After", i+1, s.who)
		}
	}
	// Each machine is one voter: A's last accepted vote b, B's a, C's c.
	want := map[string]int64{"a": 1, "b": 1, "c": 1}
	var last string
	waitFor(t, 15*time.Second, "the accepted votes in the tally through the proxy", func() bool {
		_, tl := readPollTally(t, results, id)
		last = fmt.Sprint(tl.Counts)
		return sameCounts(tl, want)
	})
	t.Logf("poll %s counted %s", id, last)
}

// proxyTab is one Chromium tab of the proxy test with its console.
type proxyTab struct {
	name string
	ctx  context.Context
	w    *cspWatch
}

// driveThroughProxy uses the pages in Chromium at the proxy's origin only.
func driveThroughProxy(t *testing.T, fp *frontProxy, pollID string) {
	origin := fp.origin
	shots := newScreenshots(t)
	b := newBrowser(t)
	var tabs []*proxyTab
	open := func(name string, width int64, target string) *proxyTab {
		ctx := b.tab(tabOptions{width: width}, 120*time.Second)
		pt := &proxyTab{name: name, ctx: ctx, w: watchCSP(t, ctx, name)}
		navigate(t, ctx, target)
		tabs = append(tabs, pt)
		return pt
	}
	liveVote := `document.querySelector("#tally").getAttribute("data-link") === "live"`
	liveResults := `[...document.querySelectorAll("[data-live]")].some(el => el.getAttribute("data-link") === "live")`

	// The vote page on a phone: its live tally connects through the proxy.
	voter := open("vote page", 360, origin+"/")
	waitJS(t, voter.ctx, liveVote, "the vote page's live tally connected through the proxy")
	if got, want := evalJS[string](t, voter.ctx, `document.querySelector("#tally").getAttribute("data-socket")`), "ws://"+hostOf(origin)+"/results/ws?poll=default"; got != want {
		t.Errorf("the vote page's WebSocket is %q, want %q", got, want)
	}
	if got, want := evalJS[string](t, voter.ctx, `document.querySelector("#tally .link a").href`), origin+"/results/"; got != want {
		t.Errorf("the vote page's results link is %q, want %q", got, want)
	}
	before := fp.socketsOpened("/results/ws?poll=default")
	if before < 1 {
		t.Errorf("the proxy passed %d WebSockets to /results/ws?poll=default, want the vote page's", before)
	}

	// The default poll's results page in another tab.
	resultsTab := open("results page", 1280, origin+"/results/")
	waitJS(t, resultsTab.ctx, liveResults, "the results page live through the proxy")
	for _, pt := range []*proxyTab{voter, resultsTab} {
		markNotReloaded(t, pt.ctx)
	}
	if err := chromedp.Do(voter.ctx, chromedp.Click(chromedp.CSS(`button[value="a"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, voter.ctx, `document.querySelector('button[value="a"]').getAttribute("aria-pressed") === "true"`, "the choice marked on the vote page")
	waitJS(t, voter.ctx, `document.querySelector("#tally [data-total]").textContent === "1 vote"`, "the vote in the vote page's live tally")
	waitJS(t, resultsTab.ctx, `document.querySelector("[data-total]").textContent === "1 vote" &&
		document.querySelector('[data-percent="a"]').textContent === "100%"`, "the vote on the results page")
	checkNotReloaded(t, voter.ctx, "vote page")
	checkNotReloaded(t, resultsTab.ctx, "results page")
	settleBars()
	shots.take(t, voter.ctx, "proxy-vote-360.png")
	shots.take(t, resultsTab.ctx, "proxy-results-default-1280.png")

	// A poll's results page and presenter view follow a vote from the
	// first tab.
	pollResults := open("poll results page", 1280, origin+"/results/p/"+pollID)
	present := open("presenter view", 1920, origin+"/results/p/"+pollID+"/present")
	for _, pt := range []*proxyTab{pollResults, present} {
		waitJS(t, pt.ctx, liveResults, "the "+pt.name+" live through the proxy")
		markNotReloaded(t, pt.ctx)
	}
	if got, want := evalJS[string](t, pollResults.ctx, `document.querySelector("a.button").href`), origin+"/p/"+pollID; got != want {
		t.Errorf("the results page's vote link is %q, want %q", got, want)
	}
	if qr, how := pageQR(t, present.ctx); qr != origin+"/p/"+pollID {
		t.Errorf("the presenter view's QR code (%s) reads %q, want %q", how, qr, origin+"/p/"+pollID)
	}
	navigate(t, voter.ctx, origin+"/p/"+pollID)
	waitJS(t, voter.ctx, liveVote, "the poll's vote page live through the proxy")
	if err := chromedp.Do(voter.ctx, chromedp.Click(chromedp.CSS(`button[value="b"]`))); err != nil {
		t.Fatal(err)
	}
	for _, pt := range []*proxyTab{voter, pollResults, present} {
		waitJS(t, pt.ctx, `/(^|\D)1 vote\b/.test(document.body.innerText)`, `"1 vote" live on the `+pt.name)
	}
	for _, pt := range []*proxyTab{pollResults, present} {
		waitJS(t, pt.ctx, `document.querySelector('[data-percent="b"]').textContent === "100%"`, "option b at 100% on the "+pt.name)
		checkNotReloaded(t, pt.ctx, pt.name)
	}
	settleBars()
	shots.take(t, voter.ctx, "proxy-vote-poll-360.png")
	shots.take(t, pollResults.ctx, "proxy-results-1280.png")
	shots.take(t, present.ctx, "proxy-present-1920.png")
	t.Cleanup(func() { t.Logf("screenshots in %s: %s", shots.dir, strings.Join(shots.names(), " ")) })

	for _, uri := range []string{"/results/ws?poll=default", "/results/ws?poll=" + url.QueryEscape(pollID)} {
		if n := fp.socketsOpened(uri); n < 2 {
			t.Errorf("the proxy passed %d WebSockets to %s, want one per page (at least 2)", n, uri)
		}
	}

	// Every link, every loaded resource and every page is at the proxy's
	// origin; the console holds no error.
	atOrigin := regexp.MustCompile(`^` + regexp.QuoteMeta(origin) + `(/|$)`)
	for _, pt := range tabs {
		installFinders(t, pt.ctx)
		urls := evalJS[[]string](t, pt.ctx, `[location.href].concat(__e2e.links(), performance.getEntriesByType("resource").map(e => e.name))`)
		var away []string
		for _, u := range urls {
			if !atOrigin.MatchString(u) && !strings.HasPrefix(u, "data:") {
				away = append(away, u)
			}
		}
		if len(away) > 0 {
			t.Errorf("the %s leads away from the proxy's origin %s: %s", pt.name, origin, strings.Join(slices.Compact(away), " "))
		}
		for _, m := range consoleErrors(t, pt.w) {
			t.Errorf("%s console: %s", pt.name, m)
		}
	}
}

// settleBars waits for the bars' width transitions (0.3 s on the vote
// page, 0.4 s on the results) to end, so that a screenshot shows them
// where they stop.
func settleBars() { time.Sleep(600 * time.Millisecond) }

// hostOf is the host:port of an http:// origin.
func hostOf(origin string) string { return strings.TrimPrefix(origin, "http://") }

// consoleErrors returns what the console said at level error, the uncaught
// exceptions and any word of the Content-Security-Policy (a failed
// WebSocket or resource is an error there too); the rest is logged.
func consoleErrors(t *testing.T, w *cspWatch) []string {
	t.Helper()
	bad := w.violations(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		// Chromium asks every origin for /favicon.ico on its own; no page
		// links one, and the vote server has none.
		if strings.HasSuffix(m.URL, "/favicon.ico") && !m.IsException() {
			continue
		}
		if m.Type == chromedp.ConsoleError && !slices.Contains(bad, m.String()+" ("+m.URL+")") {
			bad = append(bad, m.String()+" ("+m.URL+")")
		}
	}
	return bad
}
