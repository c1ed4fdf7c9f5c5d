package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // QR images may be served as GIF
	_ "image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// system is the three binaries wired to each other the way a browser
// needs: each server links to the other at its real address.
type system struct {
	e      *env
	vote   *proc
	result *proc
	worker *proc
}

// startSystem runs result, worker and vote, with VOTE_URL and RESULT_URL
// pointing at each other (both servers' addresses are chosen first, since
// each must know the other's before it starts).
func startSystem(t *testing.T) *system {
	t.Helper()
	e := newEnv(t)
	voteAddr, resultAddr := freeAddr(t), freeAddr(t)
	s := &system{e: e}
	s.result = e.startAt("result", resultAddr, "VOTE_URL=http://"+voteAddr)
	s.worker = e.start("worker")
	s.vote = e.startAt("vote", voteAddr, "RESULT_URL=http://"+resultAddr)
	s.result.waitReady()
	s.vote.waitReady()
	return s
}

// createdPoll is the answer of POST /api/polls.
type createdPoll struct {
	ID       string `json:"id"`
	Question string `json:"question"`
	Options  []struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	} `json:"options"`
	State       string `json:"state"`
	VoteURL     string `json:"vote_url"`
	ResultsURL  string `json:"results_url"`
	ManageURL   string `json:"manage_url"`
	ManageToken string `json:"manage_token"`
}

// createPoll creates a poll through the API.
func (s *system) createPoll(t *testing.T, question string, options ...string) createdPoll {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"question": question, "options": options})
	resp, err := http.Post(s.vote.url("/api/polls"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/polls: got %d %s, want 201", resp.StatusCode, b)
	}
	var p createdPoll
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("POST /api/polls answered %s: %v", b, err)
	}
	return p
}

// apiVote votes in a poll as a new voter (no cookie) and returns the status.
func (s *system) apiVote(t *testing.T, poll, option string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.vote.url("/api/polls/"+poll+"/votes"), "application/json",
		strings.NewReader(`{"vote":"`+option+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// managePoll closes or reopens a poll through the API.
func (s *system) managePoll(t *testing.T, p createdPoll, action string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.vote.url("/api/polls/"+p.ID+"/"+action), nil)
	req.Header.Set("Authorization", "Bearer "+p.ManageToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/polls/%s/%s: got %d %s, want 200", p.ID, action, resp.StatusCode, b)
	}
}

// pollTally is the result server's tally of a poll.
type pollTally struct {
	Poll    string           `json:"poll"`
	Version int64            `json:"version"`
	Counts  map[string]int64 `json:"counts"`
	Total   int64            `json:"total"`
	State   string           `json:"state"`
}

// waitTally waits until the result server's tally of poll satisfies ok.
func (s *system) waitTally(t *testing.T, poll, what string, ok func(pollTally) bool) pollTally {
	t.Helper()
	var last pollTally
	var lastBody string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.result.url("/api/polls/" + poll + "/tally"))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			lastBody = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &last) == nil && ok(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; /api/polls/%s/tally answers %s", what, poll, lastBody)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browser is one headless Chromium for a test; tabs are contexts on it.
type browser struct {
	t    *testing.T
	root context.Context
}

// browserSlots bounds how many Chromiums the parallel tests run at once:
// more than two on a two-core machine only makes each of them slow enough
// to hit its timeouts.
var browserSlots = make(chan struct{}, 2)

// newBrowser starts Chromium with the flags every browser test uses: no
// sandbox (tests run as root in CI), no GPU, no QUIC, nothing that calls
// home, and a fresh profile; extra are a test's own flags on top.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	browserSlots <- struct{}{}
	t.Cleanup(func() { <-browserSlots })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(actx)
	// The first Run starts the browser; it must not carry a timeout, or the
	// timeout would end the browser with it.
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	return &browser{t: t, root: root}
}

// tabOptions say how a new tab is set up before its first page.
type tabOptions struct {
	// ownCookies puts the tab in a browser context of its own (a fresh
	// cookie jar), like another person's browser.
	ownCookies bool
	// noScript disables JavaScript in the tab.
	noScript bool
	// acceptLanguage, when set, is sent instead of the browser's own.
	acceptLanguage string
	// width and height of the viewport; 0 keeps Chromium's default.
	width, height int64
}

// tab opens a tab and returns its context, limited to timeout.
func (b *browser) tab(o tabOptions, timeout time.Duration) context.Context {
	b.t.Helper()
	var copts []chromedp.ContextOption
	if o.ownCookies {
		copts = append(copts, chromedp.WithNewBrowserContext())
	}
	tctx, cancelTab := chromedp.NewContext(b.root, copts...)
	b.t.Cleanup(cancelTab)
	if err := chromedp.Do(tctx); err != nil {
		b.t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tctx, timeout)
	b.t.Cleanup(cancel)
	var steps []chromedp.Action[chromedp.Void]
	if o.noScript {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	if o.acceptLanguage != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Accept-Language": o.acceptLanguage},
			})
			return err
		}))
	}
	if o.width > 0 {
		steps = append(steps, viewport(o.width, o.height))
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("setting up a tab: %v", err)
	}
	return ctx
}

// viewport emulates a screen of the given size: a phone (touch, mobile
// viewport rules) below 800 px wide, a desktop otherwise.
func viewport(width, height int64) chromedp.Action[chromedp.Void] {
	if height == 0 {
		height = 800
	}
	if width < 800 {
		return chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(width, height)
}

// navigate loads a page and fails the test when that fails.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
}

// evalJS evaluates an expression and decodes its value, failing the test
// on an error.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// pageText is the page's visible text, for failure messages and checks.
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return evalJS[string](t, ctx, `document.body ? document.body.innerText : ""`)
}

// The page finders below know the contract, not a template: they look for
// what a person looks for (a field named question, a button that says
// "add", an image that is a QR code), and mark what they find with a
// data-e2e attribute so that later steps can click or type into it.
const findJS = `(() => {
  const e2e = window.__e2e = window.__e2e || {};
  const txt = el => [el.textContent, el.value, el.name, el.id, el.getAttribute("aria-label"), el.getAttribute("title")].filter(Boolean).join(" ");
  const vis = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  e2e.mark = (el, name) => { document.querySelectorAll('[data-e2e="' + name + '"]').forEach(x => x.removeAttribute("data-e2e")); if (el) el.setAttribute("data-e2e", name); return !!el; };
  e2e.createForm = () => [...document.forms].find(f => f.querySelector('[name="question"], textarea')) || null;
  e2e.question = f => f.querySelector('[name="question"]') || f.querySelector("textarea") || null;
  e2e.optionInputs = f => { const q = e2e.question(f); return [...f.querySelectorAll('input[type="text"], input:not([type])')].filter(el => el !== q && vis(el)); };
  e2e.submits = f => [...f.querySelectorAll('button:not([type]), button[type="submit"], input[type="submit"]')].filter(vis);
  e2e.addButton = f => [...f.querySelectorAll('button, input[type="submit"], input[type="button"]')].filter(vis).find(b => /\badd\b|añad|agreg|more option|otra opci/i.test(txt(b))) || null;
  e2e.createButton = f => { const add = e2e.addButton(f); const subs = e2e.submits(f).filter(b => b !== add && !/remove|delete|quitar|borrar|eliminar/i.test(txt(b))); return subs.find(b => /create|crear|start|empez|launch/i.test(txt(b))) || subs[subs.length - 1] || null; };
  e2e.qr = () => {
    const named = el => { for (let n = el, i = 0; n && i < 4; n = n.parentElement, i++) { if (/qr/i.test([n.id, n.getAttribute("class"), n.getAttribute("alt"), n.getAttribute("aria-label"), n.getAttribute("title"), n.getAttribute("src"), n.getAttribute("data")].filter(Boolean).join(" "))) return true; } return false; };
    return [...document.querySelectorAll("img, svg, canvas, object")].filter(vis).find(named) || null;
  };
  e2e.links = () => [...document.querySelectorAll("a[href]")].map(a => a.href);
  e2e.button = re => [...document.querySelectorAll('button, input[type="submit"], a[role="button"]')].filter(vis).find(b => re.test(txt(b))) || null;
  e2e.voteButtons = () => [...document.querySelectorAll('button[name="vote"], input[name="vote"]')];
  e2e.enabledVoteButtons = () => e2e.voteButtons().filter(b => vis(b) && !b.disabled && !b.closest("fieldset:disabled"));
  e2e.marked = b => b.getAttribute("aria-pressed") === "true" || b.getAttribute("aria-checked") === "true" || b.hasAttribute("aria-current") || /\b(chosen|selected|voted|active|checked)\b/.test(b.className);
  e2e.bars = () => [...document.querySelectorAll('meter, progress, [role="progressbar"], [role="meter"], [data-bar], [class*="bar"], [id*="bar"]')].filter(el => !el.closest("nav, header, footer"));
  e2e.barsSignature = () => e2e.bars().map(el => { const r = el.getBoundingClientRect(); return [el.tagName, el.value === undefined ? "" : el.value, el.getAttribute("aria-valuenow") || "", el.getAttribute("style") || "", Math.round(r.width), Math.round(r.height)].join(":"); }).join("|");
  return true;
})()`

// installFinders defines the finders in the current page (again after
// every navigation).
func installFinders(t *testing.T, ctx context.Context) {
	t.Helper()
	evalJS[bool](t, ctx, findJS)
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

// checkNotReloaded fails the test when the page was reloaded since
// markNotReloaded.
func checkNotReloaded(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Errorf("the %s reloaded; want live updates without reload", page)
	}
}

// decodeQR reads the QR code in an image.
func decodeQR(img image.Image) (string, error) {
	// A quiet zone around the code is part of the standard; an element
	// screenshot cuts it off, so the image is put on a white margin first.
	b := img.Bounds()
	m := b.Dx() / 8
	if m < 16 {
		m = 16
	}
	padded := image.NewRGBA(image.Rect(0, 0, b.Dx()+2*m, b.Dy()+2*m))
	draw.Draw(padded, padded.Bounds(), &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(padded, image.Rect(m, m, m+b.Dx(), m+b.Dy()), img, b.Min, draw.Over)
	bmp, err := gozxing.NewBinaryBitmapFromImage(padded)
	if err != nil {
		return "", err
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// pageQR finds the page's QR code and decodes it. An <img> of a PNG, JPEG
// or GIF is fetched (or read from its data: URL) and decoded as served;
// anything else (inline SVG, an SVG image, a canvas) is decoded from a
// screenshot of the element. how says which way it went.
func pageQR(t *testing.T, ctx context.Context) (text, how string) {
	t.Helper()
	installFinders(t, ctx)
	if !evalJS[bool](t, ctx, `__e2e.mark(__e2e.qr(), "qr")`) {
		t.Fatalf("no QR code on %s: want a visible img, svg or canvas whose alt, aria-label, class, id or src names it (qr); page text:\n%s",
			evalJS[string](t, ctx, `location.href`), pageText(t, ctx))
	}
	src := evalJS[string](t, ctx, `(() => { const el = document.querySelector('[data-e2e="qr"]'); return el.tagName === "IMG" ? el.currentSrc || el.src : ""; })()`)
	if src != "" {
		data, err := fetchImage(src)
		if err != nil {
			t.Errorf("QR image %.80s: %v", src, err)
		} else if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
			text, err := decodeQR(img)
			if err != nil {
				t.Fatalf("QR image %.80s as served does not decode: %v", src, err)
			}
			return text, "img " + firstN(src, 60)
		}
	}
	// An <img> of an SVG must have loaded and been painted before its
	// screenshot means anything; a screenshot taken while it paints can
	// misread, so a few are taken before the code counts as unreadable.
	loaded := `(() => { const el = document.querySelector('[data-e2e="qr"]'); return el.tagName !== "IMG" || (el.complete && el.naturalWidth > 0); })()`
	waitJS(t, ctx, loaded, "the QR image to load")
	// Each attempt at another scale: a reader decodes a code that a given
	// scale's anti-aliasing of module edges happens to blur (a camera
	// sees it at every scale).
	scales := []float64{2, 3, 4, 1.5}
	for attempt := 1; ; attempt++ {
		shot, err := chromedp.Run(ctx, chromedp.ScreenshotScale(chromedp.CSS(`[data-e2e="qr"]`), scales[(attempt-1)%len(scales)]))
		if err != nil {
			t.Fatalf("screenshot of the QR code: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if text, err = decodeQR(img); err == nil {
			return text, "screenshot of the element"
		}
		if attempt == 2*len(scales) {
			t.Fatalf("the QR code on %s does not decode from %d screenshots at scales %v: %v", evalJS[string](t, ctx, `location.href`), attempt, scales, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// fetchImage reads an image URL as a browser would (data: URLs included).
func fetchImage(src string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(src, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		if !found {
			return nil, fmt.Errorf("malformed data: URL")
		}
		if strings.HasSuffix(meta, ";base64") {
			return base64.StdEncoding.DecodeString(data)
		}
		return []byte(data), nil
	}
	resp, err := http.Get(src)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("got status %d, want 200", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// axeScript is axe-core's source, read once.
var axeScript = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("%w: install it with `npm ci --prefix e2e` (make test does)", err)
	}
	return string(b), nil
})

// axeViolation is one rule that failed, as axe-core reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// runAxe injects axe-core into the page through the DevTools protocol
// (which a Content-Security-Policy does not block, unlike a <script> tag)
// and returns the violations whose impact is serious or critical; the
// others (moderate, minor) are logged.
func runAxe(t *testing.T, ctx context.Context) []axeViolation {
	t.Helper()
	src, err := axeScript()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		t.Fatalf("injecting axe-core: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe-core: %v", err)
	}
	var all []axeViolation
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatalf("axe-core's answer: %v", err)
	}
	var bad, other []axeViolation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, v)
		} else {
			other = append(other, v)
		}
	}
	if len(other) > 0 {
		t.Logf("axe-core on %s, below serious:%s", evalJS[string](t, ctx, `location.href`), formatViolations(other))
	}
	return bad
}

// formatViolations lists rule id, impact and the failing nodes' targets.
func formatViolations(vs []axeViolation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s (%s): %s", v.ID, v.Impact, v.Help)
		for i, n := range v.Nodes {
			if i == 8 {
				fmt.Fprintf(&b, "\n    … %d more", len(v.Nodes)-i)
				break
			}
			tgt, _ := json.Marshal(n.Target)
			fmt.Fprintf(&b, "\n    %s", tgt)
		}
	}
	return b.String()
}

// screenshots saves page pictures: under SCREENSHOTS_DIR when set (`make
// screenshots` points it at docs/screenshots), else in the test's
// temporary directory, so the code runs on every `make test`.
type screenshots struct {
	dir string
	mu  sync.Mutex
	got []string
}

func newScreenshots(t *testing.T) *screenshots {
	t.Helper()
	dir := os.Getenv("SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &screenshots{dir: dir}
}

// take saves a full-page PNG of the tab as name.
func (s *screenshots) take(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.got = append(s.got, name)
	s.mu.Unlock()
}

// names lists the screenshots taken, sorted.
func (s *screenshots) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.got...)
	sort.Strings(out)
	return out
}
