package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// votePathRE is a poll's page on the vote server.
var votePathRE = regexp.MustCompile(`^/p/([a-z0-9][a-z0-9-]{0,39})/?$`)

// fillNewPoll types a question and options into /new's form, pressing its
// "add option" control whenever the form has fewer empty fields than
// options left to type. It works with and without JavaScript: the control
// adds a field in the page, or (a submit button) asks the server for the
// form again with one more field and what was typed kept.
func fillNewPoll(t *testing.T, ctx context.Context, question string, options []string) (added int) {
	t.Helper()
	installFinders(t, ctx)
	if !evalJS[bool](t, ctx, `!!__e2e.createForm()`) {
		t.Fatalf("/new has no form with a question field; page text:\n%s", pageText(t, ctx))
	}
	evalJS[bool](t, ctx, `__e2e.mark(__e2e.question(__e2e.createForm()), "question")`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`[data-e2e="question"]`), question)); err != nil {
		t.Fatalf("typing the question: %v", err)
	}
	for i, opt := range options {
		n := evalJS[int](t, ctx, `__e2e.optionInputs(__e2e.createForm()).length`)
		if n <= i {
			installFinders(t, ctx)
			if !evalJS[bool](t, ctx, `__e2e.mark(__e2e.addButton(__e2e.createForm()), "add")`) {
				t.Fatalf("/new shows %d option fields and no visible \"add option\" control; want one to type option %d; page text:\n%s", n, i+1, pageText(t, ctx))
			}
			before := n
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-e2e="add"]`))); err != nil {
				t.Fatalf("pressing \"add option\": %v", err)
			}
			added++
			deadline := time.Now().Add(10 * time.Second)
			for {
				time.Sleep(50 * time.Millisecond)
				ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](findJS))
				if err == nil && ok {
					if n, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`__e2e.createForm() ? __e2e.optionInputs(__e2e.createForm()).length : 0`)); n > before {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("after \"add option\" the form still has %d option fields, want %d; page text:\n%s", n, before+1, pageText(t, ctx))
				}
			}
			// What was typed before must survive the round trip.
			if got := evalJS[string](t, ctx, `__e2e.question(__e2e.createForm()).value`); got != question {
				t.Fatalf("after \"add option\" the question field holds %q, want %q", got, question)
			}
			for j := 0; j < i; j++ {
				if got := evalJS[string](t, ctx, `__e2e.optionInputs(__e2e.createForm())[`+strconv.Itoa(j)+`].value`); got != options[j] {
					t.Fatalf("after \"add option\" option field %d holds %q, want %q", j+1, got, options[j])
				}
			}
		}
		evalJS[bool](t, ctx, `__e2e.mark(__e2e.optionInputs(__e2e.createForm())[`+strconv.Itoa(i)+`], "opt")`)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`[data-e2e="opt"]`), opt)); err != nil {
			t.Fatalf("typing option %d: %v", i+1, err)
		}
	}
	return added
}

// submitCreate presses the create button of /new's form and waits for the
// page that follows.
func submitCreate(t *testing.T, ctx context.Context) {
	t.Helper()
	installFinders(t, ctx)
	if !evalJS[bool](t, ctx, `__e2e.mark(__e2e.createButton(__e2e.createForm()), "create")`) {
		t.Fatalf("/new has no create button; page text:\n%s", pageText(t, ctx))
	}
	start := evalJS[string](t, ctx, `location.href`)
	markNotReloaded(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-e2e="create"]`))); err != nil {
		t.Fatalf("pressing create: %v", err)
	}
	waitJS(t, ctx, `window.notReloaded !== true && document.readyState === "complete" && location.href !== `+jsonString(start),
		"the page after create")
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// manageLinks reads the manage page: the vote link (the anchor to a poll
// page on the vote server), the results page and the presenter view.
type manageLinks struct {
	pollID, vote, results, present string
}

func readManagePage(t *testing.T, ctx context.Context, s *system) manageLinks {
	t.Helper()
	installFinders(t, ctx)
	var links []string
	raw := evalJS[[]byte](t, ctx, `__e2e.links()`)
	if err := json.Unmarshal(raw, &links); err != nil {
		t.Fatal(err)
	}
	var m manageLinks
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil {
			continue
		}
		switch {
		case u.Host == s.vote.addr && votePathRE.MatchString(u.Path) && m.vote == "":
			m.vote, m.pollID = l, votePathRE.FindStringSubmatch(u.Path)[1]
		case u.Host == s.result.addr && strings.HasSuffix(u.Path, "/present"):
			m.present = l
		case u.Host == s.result.addr && votePathRE.MatchString(u.Path):
			m.results = l
		}
	}
	page := evalJS[string](t, ctx, `location.href`)
	if m.vote == "" || m.results == "" || m.present == "" {
		t.Fatalf("manage page %s: got vote link %q, results link %q, presenter link %q; want a link to http://%s/p/<id>, http://%s/p/<id> and http://%s/p/<id>/present\nlinks: %v",
			page, m.vote, m.results, m.present, s.vote.addr, s.result.addr, s.result.addr, links)
	}
	if !strings.Contains(m.results, "/p/"+m.pollID) || !strings.Contains(m.present, "/p/"+m.pollID+"/present") {
		t.Errorf("manage page: results %q and presenter %q are not poll %s's", m.results, m.present, m.pollID)
	}
	return m
}

// keyboardVote presses Tab until a vote button that is not the voter's
// current choice has the focus, checks that the focus is visible, presses
// Enter, and returns the option voted for.
func keyboardVote(t *testing.T, ctx context.Context) string {
	t.Helper()
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("40 presses of Tab never reached a vote button; focus is on %s", evalJS[string](t, ctx, `document.activeElement.outerHTML.slice(0, 120)`))
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		if evalJS[bool](t, ctx, `document.activeElement.matches('button[name="vote"]') && !__e2e.marked(document.activeElement)`) {
			break
		}
	}
	// A visible focus: an outline or a ring (box-shadow) while focused.
	if !evalJS[bool](t, ctx, `(() => { const s = getComputedStyle(document.activeElement); return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none"; })()`) {
		t.Error("a vote button focused with the keyboard shows no outline or focus ring")
	}
	choice := evalJS[string](t, ctx, `document.activeElement.value`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	return choice
}

// TestBrowserPollLifecycle is issue 7's story in Chromium with JavaScript:
// create a poll on /new, find its QR code on the manage page and decode it
// to the vote link, vote in a second tab, watch the presenter view in a
// third tab move without reload, change the vote with the keyboard, then
// close the poll from the manage page and see every open page show it
// closed with the final numbers, and reopen it.
func TestBrowserPollLifecycle(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	b := newBrowser(t)
	question := "Which talk next?"
	options := []string{"Go generics", "Fiber in production", "Redis streams", "Postgres tricks"}

	// Tab 1: /new, then the manage page.
	manage := b.tab(tabOptions{width: 1280}, 90*time.Second)
	navigate(t, manage, s.vote.url("/new"))
	added := fillNewPoll(t, manage, question, options)
	if added == 0 {
		t.Errorf("/new offered %d option fields at once; want the test to use \"add option\" at least once (offer at most %d)", len(options), len(options)-1)
	}
	submitCreate(t, manage)
	if u := evalJS[string](t, manage, `location.href`); !strings.HasPrefix(u, s.vote.url("/")) {
		t.Fatalf("create led to %s, want the manage page on the vote server", u)
	}
	links := readManagePage(t, manage, s)
	t.Logf("poll %s: vote %s, results %s, presenter %s", links.pollID, links.vote, links.results, links.present)

	// The poll as created: the options in the order typed, ids a, b, c, d.
	var got createdPoll
	resp, err := http.Get(s.vote.url("/api/polls/" + links.pollID))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Question != question || len(got.Options) != len(options) {
		t.Fatalf("GET /api/polls/%s: got %q with %d options, want %q with %d", links.pollID, got.Question, len(got.Options), question, len(options))
	}
	for i, o := range got.Options {
		if want := string(rune('a' + i)); o.ID != want || o.Label != options[i] {
			t.Errorf("option %d: got %s=%q, want %s=%q", i, o.ID, o.Label, want, options[i])
		}
	}

	qr, how := pageQR(t, manage)
	t.Logf("manage page QR read from the %s", how)
	if qr != links.vote {
		t.Errorf("the manage page's QR code (%s) decodes to %q, want the vote link %q", how, qr, links.vote)
	}

	// Tab 3 first, so that it is watching when the vote lands: the
	// presenter view at projector size.
	present := b.tab(tabOptions{width: 1920, height: 1080}, 90*time.Second)
	navigate(t, present, links.present)
	installFinders(t, present)
	if txt := pageText(t, present); !strings.Contains(txt, question) || !strings.Contains(txt, "No votes yet") {
		t.Errorf("presenter view before any vote: want the question and \"No votes yet\"; page text:\n%s", txt)
	}
	pqr, phow := pageQR(t, present)
	t.Logf("presenter QR read from the %s", phow)
	if pqr != links.vote {
		t.Errorf("the presenter view's QR code (%s) decodes to %q, want the vote link %q", phow, pqr, links.vote)
	}
	if evalJS[int](t, present, `__e2e.bars().length`) < len(options) {
		t.Errorf("presenter view: found %d bars (meter, progress, role=progressbar/meter, data-bar or class/id with \"bar\"), want one per option (%d)",
			evalJS[int](t, present, `__e2e.bars().length`), len(options))
	}
	if n := evalJS[int](t, present, `document.querySelectorAll('[aria-live="polite"]').length`); n == 0 {
		t.Error(`presenter view: no aria-live="polite" region; want the live numbers announced politely`)
	}
	bars := evalJS[string](t, present, `__e2e.barsSignature()`)
	markNotReloaded(t, present)

	// Tab 2: the vote link, as a phone that scanned the code.
	voter := b.tab(tabOptions{width: 360}, 90*time.Second)
	navigate(t, voter, qr)
	installFinders(t, voter)
	if txt := pageText(t, voter); !strings.Contains(txt, question) {
		t.Fatalf("the vote link %s does not show the question %q; page text:\n%s", qr, question, txt)
	}
	if n := evalJS[int](t, voter, `__e2e.enabledVoteButtons().length`); n != len(options) {
		t.Fatalf("vote page: got %d vote buttons (name=vote), want %d", n, len(options))
	}
	markNotReloaded(t, voter)
	if err := chromedp.Do(voter, chromedp.Click(chromedp.CSS(`button[name="vote"][value="c"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, voter, `__e2e.marked(document.querySelector('button[name="vote"][value="c"]')) &&
		__e2e.voteButtons().filter(__e2e.marked).length === 1`, "Redis streams marked as the voter's choice (aria-pressed)")
	waitJS(t, voter, `document.body.innerText.indexOf("1 vote") >= 0`, `"1 vote" on the vote page`)

	// The presenter view moves: the number and the bar, without a reload.
	waitJS(t, present, `/(^|\D)1 vote\b/.test(document.body.innerText) && /(^|\D)100\s?%/.test(document.body.innerText)`,
		`"1 vote" and 100% on the presenter view`)
	waitJS(t, present, `__e2e.barsSignature() !== `+jsonString(bars), "a bar of the presenter view to move")
	checkNotReloaded(t, present, "presenter view")
	checkNotReloaded(t, voter, "vote page")
	if n := evalJS[int](t, voter, `document.querySelectorAll('[aria-live="polite"], [role="status"]').length`); n == 0 {
		t.Error(`vote page: no aria-live="polite" (or role=status) region; want the live numbers announced politely`)
	}

	// Change of mind with the keyboard alone: Tab to another option, see
	// where the focus is, press Enter.
	choice := keyboardVote(t, voter)
	waitJS(t, voter, `__e2e.marked(document.querySelector('button[name="vote"][value="`+choice+`"]')) &&
		__e2e.voteButtons().filter(__e2e.marked).length === 1`, "option "+choice+" marked after voting with the keyboard")
	waitJS(t, present, `/(^|\D)1 vote\b/.test(document.body.innerText) && __e2e.barsSignature() !== `+jsonString(bars),
		"the presenter view to follow the changed vote")
	s.waitTally(t, links.pollID, "the changed vote", func(tl pollTally) bool { return tl.Total == 1 && tl.Counts[choice] == 1 })

	// Close from the manage page. Neither page may say "closed" before.
	for name, c := range map[string]context.Context{"vote page": voter, "presenter view": present} {
		if txt := pageText(t, c); regexp.MustCompile(`(?i)closed`).MatchString(txt) {
			t.Fatalf("the %s says closed while the poll is open:\n%s", name, txt)
		}
	}
	installFinders(t, manage)
	if !evalJS[bool](t, manage, `__e2e.mark(__e2e.button(/^\s*close\b|\bclose (the )?poll|cerrar/i), "close")`) {
		t.Fatalf("manage page: no close button; page text:\n%s", pageText(t, manage))
	}
	if err := chromedp.Do(manage, chromedp.Click(chromedp.CSS(`[data-e2e="close"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, manage, `document.readyState === "complete" && (window.__e2e || `+findJS+`) && !!__e2e.button(/reopen|reabrir/i)`,
		"the manage page to offer reopen after close")

	// Every open page shows it closed, with the final numbers.
	waitJS(t, voter, `/closed/i.test(document.body.innerText) && __e2e.enabledVoteButtons().length === 0 &&
		document.body.innerText.indexOf("1 vote") >= 0`, "the vote page to show the poll closed, with no way to vote and the final 1 vote")
	waitJS(t, present, `/closed/i.test(document.body.innerText) && /(^|\D)1 vote\b/.test(document.body.innerText)`,
		"the presenter view to show the poll closed with the final 1 vote")
	checkNotReloaded(t, present, "presenter view")
	checkNotReloaded(t, voter, "vote page")

	// A late vote through the API is refused.
	if code, body := s.apiVote(t, links.pollID, "a"); code != http.StatusConflict {
		t.Errorf("a vote after the close: got %d %s, want 409", code, body)
	}
	tl := s.waitTally(t, links.pollID, "the closed tally", func(tl pollTally) bool { return tl.State == "closed" })
	if tl.Total != 1 || tl.Counts[choice] != 1 {
		t.Errorf("final tally: got %+v, want one vote for %s", tl, choice)
	}

	// Reopen from the manage page: votes are taken again.
	installFinders(t, manage)
	evalJS[bool](t, manage, `__e2e.mark(__e2e.button(/reopen|reabrir/i), "reopen")`)
	if err := chromedp.Do(manage, chromedp.Click(chromedp.CSS(`[data-e2e="reopen"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, manage, `document.readyState === "complete" && (window.__e2e || `+findJS+`) && !!__e2e.button(/^\s*close\b|\bclose (the )?poll|cerrar/i)`,
		"the manage page to offer close again after reopen")
	waitJS(t, present, `!/closed/i.test(document.body.innerText)`, "the presenter view to show the poll open again")
	checkNotReloaded(t, present, "presenter view")
	if code, body := s.apiVote(t, links.pollID, "b"); code != http.StatusAccepted {
		t.Errorf("a vote after reopening: got %d %s, want 202", code, body)
	}
	navigate(t, voter, links.vote)
	installFinders(t, voter)
	if n := evalJS[int](t, voter, `__e2e.enabledVoteButtons().length`); n != len(options) {
		t.Errorf("the vote page after reopening: got %d vote buttons, want %d", n, len(options))
	}
	waitJS(t, present, `/(^|\D)2 votes\b/.test(document.body.innerText)`, `"2 votes" on the presenter view after reopening`)
}

// TestBrowserNoJavaScript creates a poll and votes with JavaScript
// disabled: /new's "add option" must be a submit button that brings the
// form back with one more field, and the vote page a plain form.
func TestBrowserNoJavaScript(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	b := newBrowser(t)
	question := "¿Pizza o pasta, o algo más?"
	options := []string{"Pizza", "Pasta", "Paella", "Tacos"}

	tab := b.tab(tabOptions{noScript: true, width: 360}, 90*time.Second)
	// The tab itself: a page's own script must not run in it.
	navigate(t, tab, `data:text/html,<!DOCTYPE html><title>off</title><script>document.title = "on"</script>`)
	if title := evalJS[string](t, tab, `document.title`); title != "off" {
		t.Fatalf("a page's script ran in the no-JavaScript tab (title %q)", title)
	}
	navigate(t, tab, s.vote.url("/new"))
	installFinders(t, tab)
	if kind := evalJS[string](t, tab, `(() => { const f = __e2e.createForm(); const b = f && __e2e.addButton(f); return b ? b.tagName + ":" + b.type : ""; })()`); kind != "BUTTON:submit" && kind != "INPUT:submit" {
		t.Fatalf("without JavaScript, /new's \"add option\" control is %q, want a visible submit button in the form", kind)
	}
	if added := fillNewPoll(t, tab, question, options); added == 0 {
		t.Errorf("/new offered %d option fields at once; want the test to use \"add option\" (offer at most %d)", len(options), len(options)-1)
	}
	submitCreate(t, tab)
	links := readManagePage(t, tab, s)
	qr, how := pageQR(t, tab)
	if qr != links.vote {
		t.Errorf("without JavaScript, the manage page's QR code (%s) decodes to %q, want the vote link %q", how, qr, links.vote)
	}

	var got createdPoll
	resp, err := http.Get(s.vote.url("/api/polls/" + links.pollID))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var labels []string
	for _, o := range got.Options {
		labels = append(labels, o.Label)
	}
	if got.Question != question || strings.Join(labels, "|") != strings.Join(options, "|") {
		t.Fatalf("GET /api/polls/%s: got %q %q, want %q %q", links.pollID, got.Question, labels, question, options)
	}

	// Vote by form, then change the vote.
	navigate(t, tab, links.vote)
	for _, choice := range []string{"b", "c"} {
		markNotReloaded(t, tab)
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`button[name="vote"][value="`+choice+`"]`))); err != nil {
			t.Fatalf("voting %s by form: %v", choice, err)
		}
		waitJS(t, tab, `window.notReloaded !== true && document.readyState === "complete"`, "the page after the form post")
		installFinders(t, tab)
		if !evalJS[bool](t, tab, `(() => { const b = document.querySelector('button[name="vote"][value="`+choice+`"]'); return !!b && __e2e.marked(b) && __e2e.voteButtons().filter(__e2e.marked).length === 1; })()`) {
			t.Errorf("after voting %s by form: want that button (only) marked (aria-pressed=true); page text:\n%s", choice, pageText(t, tab))
		}
		s.waitTally(t, links.pollID, "the form vote "+choice, func(tl pollTally) bool { return tl.Total == 1 && tl.Counts[choice] == 1 })
	}
}
