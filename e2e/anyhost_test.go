package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// getAs sends GET target with the Host header host, as a browser that
// opened the machine under that name does.
func getAs(t *testing.T, method, target, host, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, target, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestPagesAtAnyHost: with the defaults (RESULT_URL and VOTE_URL unset)
// each server's pages send the browser to the other server at the host
// the page was opened at, on the other server's default port (8081 for
// results, 8080 for voting). Over HTTP, for the loopback address, localhost,
// DNS names with and without a port and an IPv6 literal: the vote page's
// WebSocket, results link and Content-Security-Policy, the results page's
// links home and the poll's vote link, and a created poll's links. In
// Chromium, which reaches the machine's ports 8080 and 8081 at the test's
// servers (--host-rules, so no fixed port is taken on the machine): the
// vote page opened at http://127.0.0.1:8080/, http://localhost:8080/ and
// http://vote.example.test:8080/ connects its live tally to the same name
// on port 8081, and each tab follows the others' votes; the results page
// at the DNS name follows a vote live and links back to the same name.
func TestPagesAtAnyHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result, _, vote := e.startAll()
	_, votePort, _ := net.SplitHostPort(vote.addr)
	_, resultPort, _ := net.SplitHostPort(result.addr)
	p := createPoll(t, vote, pollDefs(t)["two"])
	waitPollKnown(t, result, p.ID)

	for _, tt := range []struct {
		voteHost, resultHost string // Host headers as browsers send them
		name                 string // the host as it stands in a URL
	}{
		{"127.0.0.1:" + votePort, "127.0.0.1:" + resultPort, "127.0.0.1"},
		{"localhost:" + votePort, "localhost:" + resultPort, "localhost"},
		{"vote.example.test:8080", "vote.example.test:8081", "vote.example.test"},
		{"votes.example.org", "votes.example.org", "votes.example.org"},
		{"[::1]:" + votePort, "[::1]:" + resultPort, "[::1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resultsAt, voteAt := "http://"+tt.name+":8081", "http://"+tt.name+":8080"
			code, body, h := getAs(t, http.MethodGet, vote.url("/"), tt.voteHost, "")
			if code != http.StatusOK {
				t.Fatalf("GET / as %s: got %d, want 200", tt.voteHost, code)
			}
			for _, want := range []string{`data-socket="ws://` + tt.name + `:8081/ws?poll=default"`, `href="` + resultsAt + `/"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the vote page at %s lacks %s", tt.voteHost, want)
				}
			}
			if csp, want := h.Get("Content-Security-Policy"), "connect-src 'self' ws://"+tt.name+":8081;"; !strings.Contains(csp, want) {
				t.Errorf("the vote page at %s: Content-Security-Policy %q, want %s", tt.voteHost, csp, want)
			}

			code, body, h = getAs(t, http.MethodGet, result.url("/p/"+p.ID), tt.resultHost, "")
			if code != http.StatusOK {
				t.Fatalf("GET /p/%s as %s: got %d, want 200", p.ID, tt.resultHost, code)
			}
			for _, want := range []string{`href="` + voteAt + `/"`, `href="` + voteAt + `/new"`, `href="` + voteAt + `/p/` + p.ID + `"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the results page at %s lacks %s", tt.resultHost, want)
				}
			}
			if csp, want := h.Get("Content-Security-Policy"), "connect-src 'self' ws://"+tt.resultHost+";"; !strings.Contains(csp, want) {
				t.Errorf("the results page at %s: Content-Security-Policy %q, want %s", tt.resultHost, csp, want)
			}

			code, body, _ = getAs(t, http.MethodPost, vote.url("/api/polls"), tt.voteHost, createBody("Here?", []string{"Yes", "No"}))
			if code != http.StatusCreated {
				t.Fatalf("POST /api/polls as %s: got %d %s, want 201", tt.voteHost, code, body)
			}
			for _, want := range []string{`"vote_url":"http://` + tt.voteHost + `/p/`, `"results_url":"` + resultsAt + `/p/`, `"manage_url":"http://` + tt.voteHost + `/p/`} {
				if !strings.Contains(body, want) {
					t.Errorf("a poll created at %s: the answer lacks %s: %s", tt.voteHost, want, body)
				}
			}
		})
	}

	t.Run("browser", func(t *testing.T) {
		b := newBrowser(t, chromedp.Flag("host-rules", fmt.Sprintf("MAP *:8080 127.0.0.1:%s, MAP *:8081 127.0.0.1:%s", votePort, resultPort)))
		type tab struct {
			host string
			ctx  context.Context
			w    *cspWatch
		}
		var tabs []tab
		for _, host := range []string{"127.0.0.1", "localhost", "vote.example.test"} {
			ctx := b.tab(tabOptions{width: 1280}, 90*time.Second)
			w := watchCSP(t, ctx, "vote page at "+host)
			navigate(t, ctx, "http://"+host+":8080/")
			waitJS(t, ctx, `document.querySelector("#tally").getAttribute("data-link") === "live"`, "the live tally connected at "+host)
			if got, want := evalJS[string](t, ctx, `document.querySelector("#tally").getAttribute("data-socket")`), "ws://"+host+":8081/ws?poll=default"; got != want {
				t.Errorf("the vote page at %s connects to %q, want %q", host, got, want)
			}
			if got, want := evalJS[string](t, ctx, `document.querySelector("#tally .link a").href`), "http://"+host+":8081/"; got != want {
				t.Errorf("the vote page at %s links the results at %q, want %q", host, got, want)
			}
			markNotReloaded(t, ctx)
			tabs = append(tabs, tab{host, ctx, w})
		}

		// Each tab is another voter (cookies are per host); every tab's
		// live tally follows every vote.
		for i, tb := range tabs {
			option := []string{"a", "b", "a"}[i]
			if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(`button[value="`+option+`"]`))); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%d vote", i+1)
			if i > 0 {
				want += "s"
			}
			for _, other := range tabs {
				waitJS(t, other.ctx, `document.querySelector("#tally [data-total]").textContent === "`+want+`"`,
					fmt.Sprintf("%q live on the vote page at %s after the vote at %s", want, other.host, tb.host))
			}
		}

		// The results page at the DNS name, live, linking back there.
		ctx := b.tab(tabOptions{width: 1280}, 90*time.Second)
		w := watchCSP(t, ctx, "results page at vote.example.test")
		navigate(t, ctx, "http://vote.example.test:8081/")
		waitJS(t, ctx, `[...document.querySelectorAll("[data-live]")].some(el => el.getAttribute("data-link") === "live")`, "the results page live at vote.example.test")
		if got, want := evalJS[string](t, ctx, `document.querySelector("a.brand").href`), "http://vote.example.test:8080/"; got != want {
			t.Errorf("the results page at vote.example.test links home at %q, want %q", got, want)
		}
		markNotReloaded(t, ctx)
		if err := chromedp.Do(tabs[0].ctx, chromedp.Click(chromedp.CSS(`button[value="b"]`))); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, `document.querySelector('[data-count="b"]').textContent === "2" &&
			document.querySelector('[data-count="a"]').textContent === "1"`, "the changed vote live on the results page at vote.example.test")
		checkNotReloaded(t, ctx, "results page at vote.example.test")
		for _, tb := range tabs {
			checkNotReloaded(t, tb.ctx, "vote page at "+tb.host)
		}

		tabs = append(tabs, tab{"vote.example.test:8081", ctx, w})
		for _, tb := range tabs {
			for _, m := range consoleErrors(t, tb.w) {
				t.Errorf("%s console: %s", tb.w.name, m)
			}
		}
	})
}
