package e2e

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromePath finds the browser: CHROME_PATH, else Debian's chromium.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (apt-get install chromium) or set CHROME_PATH; `make test` installs it when it can")
	return ""
}

// TestBrowserVoteShowsLiveInOtherTab clicks a vote in one tab and watches
// the results page in another tab follow, without a reload.
func TestBrowserVoteShowsLiveInOtherTab(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := e.start("result", "OPTION_A=Cats", "OPTION_B=Dogs")
	e.start("worker")
	vote := e.start("vote", "RESULT_URL=http://"+result.addr, "OPTION_A=Cats", "OPTION_B=Dogs")
	result.waitReady()

	b := newBrowser(t)
	ctx := b.tab(tabOptions{}, 60*time.Second)

	// Tab 1: the results page, marked so that a reload would show.
	if err := chromedp.Do(ctx, chromedp.Navigate(result.url("/"))); err != nil {
		t.Fatal(err)
	}
	total, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-total]`)))
	if err != nil {
		t.Fatal(err)
	}
	markNotReloaded(t, ctx)
	if total != "No votes yet" {
		t.Fatalf("results page says %q before any vote, want %q", total, "No votes yet")
	}

	// Tab 2: the vote page.
	// The WebSocket sends the current tally on connect, so the vote may
	// land before either page is connected: no wait for a "live" marker.
	vctx := b.tab(tabOptions{}, 60*time.Second)
	if err := chromedp.Do(vctx, chromedp.Navigate(vote.url("/"))); err != nil {
		t.Fatal(err)
	}
	markNotReloaded(t, vctx)
	if err := chromedp.Do(vctx, chromedp.Click(chromedp.CSS(`button[value="a"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vctx, `document.querySelector('button[value="a"]').classList.contains("chosen")`, "Cats marked as chosen")
	waitJS(t, vctx, `document.getElementById("choice").textContent.indexOf("Cats") >= 0`, "the choice named on the vote page")
	waitJS(t, vctx, `document.querySelector("#tally [data-total]").textContent === "1 vote"`, "the vote page's live tally")

	// Back in tab 1: the vote arrives without a reload.
	waitJS(t, ctx, `document.querySelector("[data-total]").textContent === "1 vote" &&
		document.querySelector('[data-percent="a"]').textContent === "100%"`, "the vote on the results page")

	// Change of mind: the tally follows.
	if err := chromedp.Do(vctx, chromedp.Click(chromedp.CSS(`button[value="b"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vctx, `document.querySelector('button[value="b"]').classList.contains("chosen") &&
		!document.querySelector('button[value="a"]').classList.contains("chosen")`, "Dogs marked instead of Cats")
	waitJS(t, ctx, `document.querySelector("[data-total]").textContent === "1 vote" &&
		document.querySelector('[data-percent="b"]').textContent === "100%" &&
		document.querySelector('[data-percent="a"]').textContent === "0%"`, "the changed vote on the results page")

	checkNotReloaded(t, ctx, "results page")
	checkNotReloaded(t, vctx, "vote page")
	// A returning voter sees their choice marked on a fresh load.
	if err := chromedp.Do(vctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	pressed, err := chromedp.Run(vctx, chromedp.AttributeValue(chromedp.CSS(`button[value="b"]`), "aria-pressed"))
	if err != nil {
		t.Fatal(err)
	}
	if pressed.Value != "true" {
		t.Errorf("after reload Dogs has aria-pressed=%q, want true", pressed.Value)
	}
}
