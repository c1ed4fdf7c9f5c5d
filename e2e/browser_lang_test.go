package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageLang is the language the page declares.
func pageLang(t *testing.T, ctx context.Context) string {
	t.Helper()
	return evalJS[string](t, ctx, `document.documentElement.lang`)
}

// switchLanguage clicks the page's link to the language named name (its
// own name, "English" or "Español") and waits for the page in that
// language.
func switchLanguage(t *testing.T, ctx context.Context, name, lang string) {
	t.Helper()
	installFinders(t, ctx)
	ok := evalJS[bool](t, ctx, `__e2e.mark([...document.querySelectorAll("a[href]")].find(a => a.textContent.trim() === `+jsonString(name)+` || a.hreflang === `+jsonString(lang)+`) || null, "lang")`)
	if !ok {
		t.Fatalf("%s: no link to switch to %s; page text:\n%s", evalJS[string](t, ctx, `location.href`), name, pageText(t, ctx))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-e2e="lang"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.readyState === "complete" && document.documentElement.lang === `+jsonString(lang), "the page in "+name)
}

// TestBrowserLanguage checks that a browser asking for Spanish gets every
// page in Spanish, and that the switch changes the language and keeps it
// on the next pages of that server, whatever the browser asks for.
func TestBrowserLanguage(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	p := s.createPoll(t, "Which day suits you?", "Monday", "Tuesday", "Wednesday")
	b := newBrowser(t)

	pages := []struct{ name, url string }{
		{"vote /", s.vote.url("/")},
		{"vote page", p.VoteURL},
		{"/new", s.vote.url("/new")},
		{"manage page", p.ManageURL},
		{"results page", p.ResultsURL},
		{"presenter view", s.result.url("/p/" + p.ID + "/present")},
	}
	en := b.tab(tabOptions{ownCookies: true, acceptLanguage: "en-GB,en;q=0.9"}, 90*time.Second)
	es := b.tab(tabOptions{ownCookies: true, acceptLanguage: "es-ES,es;q=0.9,en;q=0.5"}, 90*time.Second)
	for _, pg := range pages {
		navigate(t, en, pg.url)
		navigate(t, es, pg.url)
		english, spanish := pageText(t, en), pageText(t, es)
		if got := pageLang(t, en); got != "en" {
			t.Errorf("%s with Accept-Language en: <html lang=%q>, want en", pg.name, got)
		}
		if got := pageLang(t, es); got != "es" {
			t.Errorf("%s with Accept-Language es: <html lang=%q>, want es", pg.name, got)
		}
		if english == spanish {
			t.Errorf("%s: the same text in English and Spanish:\n%s", pg.name, spanish)
		}
		for _, words := range []string{"No votes yet", "Create poll", "Close poll", "This poll is closed"} {
			if strings.Contains(spanish, words) {
				t.Errorf("%s in Spanish still says %q", pg.name, words)
			}
		}
	}

	// The switch, on each server: from the Spanish the browser asks for to
	// English, kept on the next page without ?lang, then back.
	for _, start := range []string{p.VoteURL, p.ResultsURL} {
		navigate(t, es, start)
		switchLanguage(t, es, "English", "en")
		if u := evalJS[string](t, es, `location.href`); !strings.HasPrefix(u, start[:strings.Index(start, "/p/")]) {
			t.Errorf("the switch on %s led to %s, want the same server", start, u)
		}
		next := start + "?again=1"
		navigate(t, es, next)
		if got := pageLang(t, es); got != "en" {
			t.Errorf("after switching to English on %s, %s is in %q; want English to stick", start, next, got)
		}
		switchLanguage(t, es, "Español", "es")
		navigate(t, es, start)
		if got := pageLang(t, es); got != "es" {
			t.Errorf("after switching back to Spanish, %s is in %q; want es", start, got)
		}
	}
}
