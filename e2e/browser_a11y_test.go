package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// withLang adds ?lang= to a URL, keeping its other parameters.
func withLang(t *testing.T, raw, lang string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.String()
}

// sitePage is one page every browser check visits.
type sitePage struct {
	name string // the screenshot's name, without width and extension
	url  string
	// prepare, when set, brings the page into the state to check (a choice
	// made, an error shown) after it loaded.
	prepare func(t *testing.T, ctx context.Context)
}

// a11ySite is a system with the polls every page state needs: an open poll
// with votes, a closed one, and the default poll.
type a11ySite struct {
	s            *system
	open, closed createdPoll
}

func newA11ySite(t *testing.T) *a11ySite {
	t.Helper()
	s := startSystem(t)
	open := s.createPoll(t, "Which talk should come next after the lunch break?",
		"Go generics in practice", "Fiber in production: what we learned the hard way", "Redis streams", "PostgreSQL tricks")
	closed := s.createPoll(t, "Pizza or pasta?", "Pizza", "Pasta", "Both")
	for _, v := range []struct{ poll, option string }{{open.ID, "a"}, {open.ID, "b"}, {open.ID, "b"}, {closed.ID, "a"}, {closed.ID, "c"}} {
		if code, body := s.apiVote(t, v.poll, v.option); code != http.StatusAccepted {
			t.Fatalf("vote %s in %s: got %d %s, want 202", v.option, v.poll, code, body)
		}
	}
	s.waitTally(t, closed.ID, "two votes in the closed poll", func(tl pollTally) bool { return tl.Total == 2 })
	s.managePoll(t, closed, "close")
	s.waitTally(t, closed.ID, "the poll closed", func(tl pollTally) bool { return tl.State == "closed" })
	s.waitTally(t, open.ID, "three votes in the open poll", func(tl pollTally) bool { return tl.Total == 3 })
	return &a11ySite{s: s, open: open, closed: closed}
}

// pages lists every page of both servers in the state to look at.
func (a *a11ySite) pages() []sitePage {
	return []sitePage{
		{name: "vote-default", url: a.s.vote.url("/")},
		{name: "vote-poll", url: a.open.VoteURL, prepare: func(t *testing.T, ctx context.Context) {
			// A voter's choice, marked, with the live tally beside it.
			installFinders(t, ctx)
			if evalJS[bool](t, ctx, `__e2e.voteButtons().some(__e2e.marked)`) {
				return
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[name="vote"][value="c"]`))); err != nil {
				t.Fatal(err)
			}
			waitJS(t, ctx, `document.readyState === "complete" && !!document.querySelector('button[name="vote"][value="c"][aria-pressed="true"]')`, "the choice marked")
		}},
		{name: "vote-closed", url: a.closed.VoteURL},
		{name: "new", url: a.s.vote.url("/new")},
		{name: "new-error", url: a.s.vote.url("/new"), prepare: func(t *testing.T, ctx context.Context) {
			// Two options that differ only in case: valid to the browser's
			// own form checks, refused by the server (or the page's script).
			fillNewPoll(t, ctx, "Favourite colour?", []string{"Red", "red"})
			installFinders(t, ctx)
			evalJS[bool](t, ctx, `__e2e.mark(__e2e.createButton(__e2e.createForm()), "create")`)
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-e2e="create"]`))); err != nil {
				t.Fatal(err)
			}
			waitJS(t, ctx, `document.readyState === "complete" && [...document.querySelectorAll('[role="alert"], [aria-invalid="true"]')].some(el => el.getBoundingClientRect().height > 0 && el.textContent.trim() !== "" || el.getAttribute("aria-invalid") === "true")`,
				`an error shown on /new (a visible role="alert" or aria-invalid field) after duplicate options`)
		}},
		{name: "manage", url: a.open.ManageURL},
		{name: "results-default", url: a.s.result.url("/")},
		{name: "results", url: a.open.ResultsURL},
		{name: "results-closed", url: a.closed.ResultsURL},
		{name: "present", url: a.s.result.url("/p/" + a.open.ID + "/present")},
	}
}

// settle waits for a page to finish loading and its live parts to connect.
func settle(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, `document.readyState === "complete" && document.fonts.status === "loaded"`, "the page to load")
	// The WebSocket connects after load; give it a moment so the picture
	// shows the live state rather than "connecting".
	time.Sleep(250 * time.Millisecond)
}

// layoutProblems measures what a phone user feels: a page that scrolls
// sideways, and buttons or fields too small to hit with a thumb.
func layoutProblems(t *testing.T, ctx context.Context, width int64) []string {
	t.Helper()
	var out []string
	if sw := evalJS[int](t, ctx, `document.documentElement.scrollWidth`); sw > int(width) {
		out = append(out, fmt.Sprintf("the page is %d px wide on a %d px screen: it scrolls sideways (overflowing: %s)", sw, width,
			evalJS[string](t, ctx, `[...document.querySelectorAll("body *")].filter(el => el.getBoundingClientRect().right > innerWidth + 1).slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "")).join(", ")`)))
	}
	if width < 800 {
		small := evalJS[string](t, ctx, `[...document.querySelectorAll('button, input:not([type="hidden"]), select, textarea, a.button, [role="button"]')].filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && (r.height < 44 || r.width < 44); }).map(el => (el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + (el.textContent || el.name || "").trim().slice(0, 20) + " " + Math.round(el.getBoundingClientRect().width) + "x" + Math.round(el.getBoundingClientRect().height))).join("; ")`)
		if small != "" {
			out = append(out, "tap targets smaller than 44×44 px: "+small)
		}
	}
	return out
}

// TestBrowserAccessibility runs axe-core on every page of both servers, open
// and closed, at phone and desktop width, in English and Spanish, and fails
// on any serious or critical violation. It also checks that no page scrolls
// sideways on a phone and that controls are big enough to tap, and saves a
// screenshot of each page (see newScreenshots).
func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	site := newA11ySite(t)
	b := newBrowser(t)
	shots := newScreenshots(t)
	t.Run("axe finds violations", func(t *testing.T) {
		// The check itself can fail: a page with an unnamed image and button.
		ctx := b.tab(tabOptions{}, 30*time.Second)
		navigate(t, ctx, `data:text/html,<!DOCTYPE html><html lang="en"><title>t</title><main><img src="x.png"><button></button></main></html>`)
		found := map[string]bool{}
		for _, v := range runAxe(t, ctx) {
			found[v.ID] = true
		}
		if !found["image-alt"] || !found["button-name"] {
			t.Errorf("axe-core on a page with an unnamed image and button: got %v, want image-alt and button-name", found)
		}
	})
	for _, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			// English as the browser's language; Spanish through the switch's
			// ?lang=es. Each in its own cookie jar, so the switch's cookie
			// stays in its language.
			ctx := b.tab(tabOptions{ownCookies: true, acceptLanguage: "en-US,en;q=0.9"}, 180*time.Second)
			for _, width := range []int64{360, 1280} {
				if err := chromedp.Do(ctx, viewport(width, 800)); err != nil {
					t.Fatal(err)
				}
				for _, p := range site.pages() {
					u := p.url
					if lang != "en" {
						u = withLang(t, u, lang)
					}
					navigate(t, ctx, u)
					if p.prepare != nil {
						p.prepare(t, ctx)
					}
					settle(t, ctx)
					if got := evalJS[string](t, ctx, `document.documentElement.lang`); got != lang {
						t.Errorf("%s at %d px: <html lang=%q>, want %q", p.name, width, got, lang)
					}
					if vs := runAxe(t, ctx); len(vs) > 0 {
						t.Errorf("%s (%s) at %d px, %s: axe-core finds %d serious or critical violations:%s", p.name, u, width, lang, len(vs), formatViolations(vs))
					}
					for _, problem := range layoutProblems(t, ctx, width) {
						t.Errorf("%s at %d px, %s: %s", p.name, width, lang, problem)
					}
					name := fmt.Sprintf("%s-%d.png", p.name, width)
					if lang != "en" {
						name = fmt.Sprintf("%s-%d-%s.png", p.name, width, lang)
					}
					shots.take(t, ctx, name)
				}
			}
		})
	}
	t.Run("projector", func(t *testing.T) {
		t.Parallel()
		ctx := b.tab(tabOptions{ownCookies: true, width: 1920, height: 1080}, 60*time.Second)
		navigate(t, ctx, site.s.result.url("/p/"+site.open.ID+"/present"))
		settle(t, ctx)
		if vs := runAxe(t, ctx); len(vs) > 0 {
			t.Errorf("presenter view at 1920×1080: axe-core finds serious or critical violations:%s", formatViolations(vs))
		}
		// A projector shows one screen: nothing may need scrolling.
		if h := evalJS[int](t, ctx, `document.documentElement.scrollHeight`); h > 1080 {
			t.Errorf("presenter view at 1920×1080 is %d px tall: it does not fit the projected screen", h)
		}
		if w := evalJS[int](t, ctx, `document.documentElement.scrollWidth`); w > 1920 {
			t.Errorf("presenter view at 1920×1080 is %d px wide", w)
		}
		// Readable from the back of the room: the question, numbers and
		// join link in large type.
		var sizes map[string]float64
		raw := evalJS[[]byte](t, ctx, `(() => {
			const px = el => el ? parseFloat(getComputedStyle(el).fontSize) : 0;
			return {question: px(document.querySelector("h1")), total: px(document.querySelector("[data-total]")), link: px([...document.querySelectorAll("a[href]")].find(a => /\/p\//.test(a.href) && !/present|results/.test(a.href)))};
		})()`)
		if err := json.Unmarshal(raw, &sizes); err != nil {
			t.Fatal(err)
		}
		for what, min := range map[string]float64{"question": 40, "total": 28, "link": 28} {
			if sizes[what] < min {
				t.Errorf("presenter view at 1920×1080: the %s is %.0f px, want at least %.0f px to read it across a room", what, sizes[what], min)
			}
		}
		shots.take(t, ctx, "present-1920.png")

		// The most options a poll can have, with long labels, still fit.
		labels := make([]string, 12)
		for i := range labels {
			labels[i] = fmt.Sprintf("Choice %d, a label long enough to wrap on a phone", i+1)
		}
		many := site.s.createPoll(t, "Twelve options: which one would you pick for the next meetup, and why not all of them?", labels...)
		navigate(t, ctx, site.s.result.url("/p/"+many.ID+"/present"))
		settle(t, ctx)
		if h := evalJS[int](t, ctx, `document.documentElement.scrollHeight`); h > 1080 {
			t.Errorf("presenter view of 12 options at 1920×1080 is %d px tall: it does not fit the projected screen", h)
		}
		if vs := runAxe(t, ctx); len(vs) > 0 {
			t.Errorf("presenter view of 12 options: axe-core finds serious or critical violations:%s", formatViolations(vs))
		}
		shots.take(t, ctx, "present-12-1920.png")
	})
	t.Cleanup(func() { t.Logf("screenshots in %s: %s", shots.dir, strings.Join(shots.names(), " ")) })
}
