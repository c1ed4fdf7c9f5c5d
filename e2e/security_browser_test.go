package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspWatch records what a tab's console says (the browser reports every
// Content-Security-Policy violation there) and the securitypolicyviolation
// events of every document the tab loads.
type cspWatch struct {
	name string
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// reportViolations is run in every document before its own scripts (by
// the DevTools protocol, which the policy does not govern): it reports
// each securitypolicyviolation event on the console.
const reportViolations = `document.addEventListener("securitypolicyviolation", e =>
  console.error("securitypolicyviolation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " in " + e.documentURI));`

// watchCSP starts recording the tab's console; call it before the tab's
// first page.
func watchCSP(t *testing.T, ctx context.Context, name string) *cspWatch {
	t.Helper()
	w := &cspWatch{name: name}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: reportViolations}); err != nil {
		t.Fatalf("installing the violation reporter: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
		}
	}()
	return w
}

// violations returns the console messages about the policy and the
// uncaught exceptions; the other messages are logged.
func (w *cspWatch) violations(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var bad []string
	for _, m := range w.msgs {
		text := strings.ToLower(m.Text)
		if m.IsException() || strings.Contains(text, "content security policy") ||
			strings.Contains(text, "securitypolicyviolation") || strings.Contains(text, "refused to") {
			bad = append(bad, m.String()+" ("+m.URL+")")
		} else {
			t.Logf("%s console: %s (%s)", w.name, m, m.URL)
		}
	}
	return bad
}

// said reports whether the console has said something containing s.
func (w *cspWatch) said(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m.Text, s) {
			return true
		}
	}
	return false
}

// frameOf returns the URL and, when it failed to load, the unreachable URL
// of the first child frame of the tab's page.
func frameOf(t *testing.T, ctx context.Context) (loaded, unreachable string) {
	t.Helper()
	res, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FrameTree == nil || len(res.FrameTree.ChildFrames) == 0 {
		t.Fatal("the slides page has no frame")
	}
	f := res.FrameTree.ChildFrames[0].Frame
	return f.URL, f.UnreachableURL
}

// TestSecurityBrowserPagesUnderCSP opens every page of both servers in
// Chromium and uses them, JavaScript on: the vote page votes and its live
// tally follows, the results page and the presenter view update without a
// reload, /new adds an option field, the manage page closes the poll. No
// page reports a Content-Security-Policy violation or an uncaught
// exception. Then a page of another origin (slides) frames each page: the
// vote, results and manage pages are refused by frame-ancestors, the
// presenter view loads, its origin being in PRESENT_FRAME_ANCESTORS.
func TestSecurityBrowserPagesUnderCSP(t *testing.T) {
	t.Parallel()
	slides := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>slides</title><iframe src="%s" width="900" height="600"></iframe>`,
			html.EscapeString(r.URL.Query().Get("src")))
	}))
	t.Cleanup(slides.Close)

	e := newEnv(t)
	voteAddr, resultAddr := freeAddr(t), freeAddr(t)
	result := e.startAt("result", resultAddr, "VOTE_URL=http://"+voteAddr, "PRESENT_FRAME_ANCESTORS="+slides.URL)
	e.start("worker").waitReady()
	vote := e.startAt("vote", voteAddr, "RESULT_URL=http://"+resultAddr)
	result.waitReady()
	vote.waitReady()
	p := createPoll(t, vote, pollDefs(t)["three"])
	waitPollKnown(t, result, p.ID)
	presenter := result.url("/p/" + p.ID + "/present")

	b := newBrowser(t)
	open := func(name, addr string, width int64) (context.Context, *cspWatch) {
		ctx := b.tab(tabOptions{width: width}, 90*time.Second)
		w := watchCSP(t, ctx, name)
		navigate(t, ctx, addr)
		waitJS(t, ctx, `document.readyState === "complete"`, name+" loaded")
		return ctx, w
	}
	results, resultsW := open("results page", result.url("/p/"+p.ID), 1280)
	present, presentW := open("presenter view", presenter, 1920)
	voter, voterW := open("vote page", vote.url("/p/"+p.ID), 360)
	for _, c := range []context.Context{results, present, voter} {
		markNotReloaded(t, c)
	}

	// A vote by click; the pages follow live.
	if err := chromedp.Do(voter, chromedp.Click(chromedp.CSS(`button[name="vote"][value="b"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, voter, `document.querySelector('button[name="vote"][value="b"]').getAttribute("aria-pressed") === "true"`, "the choice marked on the vote page")
	for name, c := range map[string]context.Context{"vote page": voter, "results page": results, "presenter view": present} {
		waitJS(t, c, `/(^|\D)1 vote\b/.test(document.body.innerText)`, `"1 vote" live on the `+name)
		checkNotReloaded(t, c, name)
	}

	// /new adds an option field with its script.
	newPage, newW := open("/new", vote.url("/new"), 1280)
	installFinders(t, newPage)
	before := evalJS[int](t, newPage, `__e2e.optionInputs(__e2e.createForm()).length`)
	markNotReloaded(t, newPage)
	if !evalJS[bool](t, newPage, `__e2e.mark(__e2e.addButton(__e2e.createForm()), "add")`) {
		t.Fatalf("/new has no add-option control; page text:\n%s", pageText(t, newPage))
	}
	if err := chromedp.Do(newPage, chromedp.Click(chromedp.CSS(`[data-e2e="add"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, newPage, fmt.Sprintf(`__e2e.optionInputs(__e2e.createForm()).length > %d`, before), "a new option field")
	checkNotReloaded(t, newPage, "/new")

	// The manage page closes the poll; the vote page shows it closed.
	manage, manageW := open("manage page", p.ManageURL, 1280)
	installFinders(t, manage)
	if !evalJS[bool](t, manage, `__e2e.mark(__e2e.button(/^\s*close\b|\bclose (the )?poll/i), "close")`) {
		t.Fatalf("the manage page has no close button; page text:\n%s", pageText(t, manage))
	}
	if err := chromedp.Do(manage, chromedp.Click(chromedp.CSS(`[data-e2e="close"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, voter, `/closed/i.test(document.body.innerText)`, "the vote page to show the poll closed")
	waitJS(t, present, `/closed/i.test(document.body.innerText)`, "the presenter view to show the poll closed")

	// The default poll's pages too.
	defaultVote, defaultVoteW := open("default vote page", vote.url("/"), 1280)
	if err := chromedp.Do(defaultVote, chromedp.Click(chromedp.CSS(`button[value="a"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, defaultVote, `document.querySelector('button[value="a"]').getAttribute("aria-pressed") === "true"`, "the default poll's choice marked")
	defaultResults, defaultResultsW := open("default results page", result.url("/"), 1280)
	waitJS(t, defaultResults, `/(^|\D)1 vote\b/.test(document.body.innerText)`, `"1 vote" on the default results page`)
	_, notFoundW := open("404 page", vote.url("/p/no-such-poll"), 1280)

	for _, w := range []*cspWatch{resultsW, presentW, voterW, newW, manageW, defaultVoteW, defaultResultsW, notFoundW} {
		for _, v := range w.violations(t) {
			t.Errorf("%s: %s", w.name, v)
		}
	}

	// Framed by a page of another origin.
	frames := []struct {
		name, url string
		allowed   bool
	}{
		{"vote page", vote.url("/p/" + p.ID), false},
		{"default vote page", vote.url("/"), false},
		{"manage page", p.ManageURL, false},
		{"results page", result.url("/p/" + p.ID), false},
		{"presenter view", presenter, true},
	}
	for _, f := range frames {
		ctx := b.tab(tabOptions{}, 60*time.Second)
		w := watchCSP(t, ctx, "slides framing the "+f.name)
		navigate(t, ctx, slides.URL+"/?src="+url.QueryEscape(f.url))
		if f.allowed {
			waitFor(t, 15*time.Second, "the presenter view in the slides' frame", func() bool {
				u, unreachable := frameOf(t, ctx)
				return u == presenter && unreachable == ""
			})
			if v := w.violations(t); len(v) > 0 {
				t.Errorf("framing the presenter view from %s: %v", slides.URL, v)
			}
			continue
		}
		waitFor(t, 15*time.Second, "Chromium to refuse framing the "+f.name, func() bool {
			return w.said("frame-ancestors")
		})
		if u, unreachable := frameOf(t, ctx); unreachable == "" && strings.HasPrefix(u, "http") {
			t.Errorf("the %s loaded in a frame of %s (frame at %s), want it refused", f.name, slides.URL, u)
		}
	}
}
