package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	resultsTab, cancelResults := chromedp.NewContext(actx)
	defer cancelResults()
	ctx, cancelTimeout := context.WithTimeout(resultsTab, 60*time.Second)
	defer cancelTimeout()

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
	waitJS(t, ctx, `document.getElementById("live").className.indexOf("live live") === 0`, "the results page's WebSocket")

	// Tab 2: the vote page.
	voteTab, cancelVote := chromedp.NewContext(resultsTab)
	defer cancelVote()
	vctx, cancelV := context.WithTimeout(voteTab, 60*time.Second)
	defer cancelV()
	if err := chromedp.Do(vctx, chromedp.Navigate(vote.url("/"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, vctx, `document.getElementById("tally").getAttribute("data-state") === "live"`, "the vote page's WebSocket")
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

	for _, c := range []context.Context{ctx, vctx} {
		same, err := chromedp.Run(c, chromedp.Evaluate[bool](`window.notReloaded === true`))
		if err != nil {
			t.Fatal(err)
		}
		if !same {
			t.Error("a page reloaded; want live updates without reload")
		}
	}
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		for name, c := range map[string]context.Context{"results.png": ctx, "vote.png": vctx} {
			if png, err := chromedp.Run(c, chromedp.FullScreenshot(100)); err == nil {
				_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
			}
		}
	}
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

// waitJS polls a JavaScript condition in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("timed out waiting for %s (last error %v); page text:\n%s", what, err, strings.TrimSpace(body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// markNotReloaded sets a flag in the page that a reload would clear.
func markNotReloaded(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
}
