package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/config"
	"livevote/result/internal/feed"
	"livevote/result/internal/hub"
	"livevote/result/internal/polldb"
	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

// fakeDB is PostgreSQL as the web side sees it: poll definitions and
// committed tallies, which the test sets, and an outage switch.
type fakeDB struct {
	mu      sync.Mutex
	polls   map[string]poll.Poll
	tallies map[string]tally.Tally
	down    bool
}

func (db *fakeDB) Poll(_ context.Context, id string) (poll.Poll, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.down {
		return poll.Poll{}, errors.New("connection refused")
	}
	p, ok := db.polls[id]
	if !ok {
		return poll.Poll{}, polldb.ErrNotFound
	}
	return p, nil
}

func (db *fakeDB) Tallies(_ context.Context, ids []string) (map[string]tally.Tally, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.down {
		return nil, errors.New("connection refused")
	}
	out := make(map[string]tally.Tally)
	for _, id := range ids {
		if t, ok := db.tallies[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (db *fakeDB) Ping(context.Context) error { return nil }

// add stores a poll with labels and counts (option a first) at version.
func (db *fakeDB) add(id, question string, labels []string, counts []int64, version int64, state string) poll.Poll {
	p := poll.Poll{ID: id, Question: question, State: poll.StateOpen}
	c := make(map[string]int64)
	for i, l := range labels {
		p.Options = append(p.Options, poll.Option{ID: poll.OptionID(i), Label: l})
		if i < len(counts) {
			c[poll.OptionID(i)] = counts[i]
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if id != poll.DefaultID {
		// The default poll's definition comes from the configuration.
		db.polls[id] = p
	}
	db.tallies[id] = tally.New(id, version, p.OptionIDs(), c, state, time.Date(2026, 11, 26, 19, 30, 0, 123e6, time.UTC))
	return p
}

type testServer struct {
	app *fiber.App
	db  *fakeDB
	hub *hub.Hub
}

func newServer(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["OPTION_A"], env["OPTION_B"] = "Tea", "Coffee"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	h := hub.New(hub.NewMetrics(reg), poll.DefaultID)
	db := &fakeDB{polls: map[string]poll.Poll{poll.DefaultID: cfg.DefaultPoll}, tallies: map[string]tally.Tally{}}
	db.add(poll.DefaultID, cfg.DefaultPoll.Question, []string{"ignored", "labels"}, nil, 0, "")
	fd := feed.New(logger, db, h, "t", reg)
	app, err := NewServer(logger, cfg, Deps{Polls: db, Tallies: fd, Hub: h,
		Monitor: health.NewMonitor(logger, time.Second), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{app: app, db: db, hub: h}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (s *testServer) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

var twelve = []string{"One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve"}

func TestResultsPage(t *testing.T) {
	s := newServer(t, nil)
	s.db.add(poll.DefaultID, "", []string{"Tea", "Coffee"}, []int64{10, 7}, 4, "")
	s.db.add("talks", "Which talk <next>?", []string{"Go", "SQL", "CSS"}, []int64{1, 1, 1}, 3, "")
	s.db.add("dozen", "Twelve?", twelve, []int64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 2, "closed")
	s.db.add("quiet", "Nobody?", []string{"Yes", "No"}, nil, 0, "")
	s.db.add("single", "One?", []string{"Yes", "No"}, []int64{0, 1}, 1, "")
	tests := []struct {
		name, path string
		want       []string
	}{
		{"default at /", "/", []string{"<h1>Tea vs Coffee!</h1>", ">Tea<", ">Coffee<", `data-percent="a">59%`, `data-percent="b">41%`,
			`data-count="a">10<`, `data-count="b">7<`, ">17 votes<", `data-poll="default"`, `data-poll-state="open"`, `value="59"`}},
		{"default at /p/default", "/p/default", []string{"<h1>Tea vs Coffee!</h1>", ">17 votes<"}},
		{"three options, escaped question", "/p/talks", []string{"Which talk &lt;next&gt;?", `data-percent="a">34%`, `data-percent="b">33%`,
			`data-percent="c">33%`, ">3 votes<", `href="http://example.com:8080/p/talks"`, `href="/p/talks/present"`, `href="/api/polls/talks/results.csv"`}},
		{"twelve options, closed", "/p/dozen", []string{`data-percent="a">50%`, `data-percent="l">50%`, `data-percent="f">0%`, ">Twelve<",
			`data-poll-state="closed"`, "final results", ">2 votes<"}},
		{"no votes", "/p/quiet", []string{"No votes yet", `data-percent="a">0%`}},
		{"one vote", "/p/single", []string{">1 vote<", `data-percent="b">100%`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, tt.path)
			if r.code != 200 {
				t.Fatalf("got %d, want 200", r.code)
			}
			for _, w := range append(tt.want, `<html lang="en">`, "/static/tally.js", "/static/result.js", `aria-live="polite"`, `hreflang="es"`, `role="status"`) {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			checkStrictPage(t, r.body)
		})
	}
	if got := strings.Count(s.get(t, "/p/dozen").body, "<progress"); got != 12 {
		t.Errorf("twelve options: got %d bars, want 12", got)
	}
}

// checkStrictPage: nothing a strict Content-Security-Policy would block.
func checkStrictPage(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "style=") {
		t.Error("page has a style attribute")
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || !strings.Contains(body, "<script src=") && strings.Contains(body, "<script") {
		t.Error("page has an inline script")
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("page has an inline event handler")
	}
}

func TestSpanish(t *testing.T) {
	s := newServer(t, nil)
	s.db.add(poll.DefaultID, "", []string{"Tea", "Coffee"}, []int64{2, 1}, 4, "")
	tests := []struct {
		name, path, header, value string
		want                      []string
	}{
		{"switch", "/?lang=es", "", "", []string{`<html lang="es">`, ">3 votos<", `data-words-many="%d votos"`, `data-words-none="Aún no hay votos"`, `aria-current="true">Español`}},
		{"accept-language", "/", "Accept-Language", "es-ES,es;q=0.9,en;q=0.5", []string{`<html lang="es">`, "Abierta"}},
		{"cookie", "/p/default/present", "Cookie", "lang=es", []string{`<html lang="es">`, "Vota ahora"}},
		{"english fallback", "/", "Accept-Language", "de", []string{`<html lang="en">`, ">3 votes<"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, tt.path, tt.header, tt.value)
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("got %d, page lacks %s", r.code, w)
				}
			}
		})
	}
	if r := s.get(t, "/?lang=es"); !strings.Contains(r.header.Get("Set-Cookie"), "lang=es") {
		t.Errorf("the switch set no cookie: %q", r.header.Get("Set-Cookie"))
	}
	if missing := catalog.Missing(); len(missing) > 0 {
		t.Errorf("catalog lacks %v", missing)
	}
}

func TestPresenterView(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantURL string
	}{
		{"vote server on this host", nil, "http://example.com:8080/p/talks"},
		{"VOTE_URL", map[string]string{"VOTE_URL": "https://vote.example.org/base/"}, "https://vote.example.org/base/p/talks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.env)
			s.db.add("talks", "Which talk next?", []string{"Go", "SQL", "CSS", "Redis"}, []int64{3, 1}, 5, "")
			r := s.get(t, "/p/talks/present")
			if r.code != 200 {
				t.Fatalf("got %d, want 200", r.code)
			}
			for _, w := range []string{"<h1>Which talk next?</h1>", `href="` + tt.wantURL + `"`, `src="/p/talks/qr.png"`,
				strings.Replace(strings.TrimPrefix(strings.TrimPrefix(tt.wantURL, "https://"), "http://"), "/", "<wbr>/", 1) + "</a>", `data-percent="d">0%`, ">4 votes<", "alt=\"QR code"} {
				if !strings.Contains(r.body, w) {
					t.Errorf("presenter view lacks %s", w)
				}
			}
			checkStrictPage(t, r.body)

			qr := s.get(t, "/p/talks/qr.png")
			if qr.code != 200 || qr.header.Get("Content-Type") != "image/png" {
				t.Fatalf("qr: got %d %s, want 200 image/png", qr.code, qr.header.Get("Content-Type"))
			}
			if got := decodeQR(t, []byte(qr.body)); got != tt.wantURL {
				t.Errorf("QR code decodes to %q, want %q", got, tt.wantURL)
			}
		})
	}
}

func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("qr is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decoding the QR code: %v", err)
	}
	return res.GetText()
}

func TestNotFound(t *testing.T) {
	s := newServer(t, nil)
	for _, path := range []string{"/p/nope", "/p/Not-A-Poll", "/p/nope/present", "/p/nope/qr.png",
		"/api/polls/nope/tally", "/api/polls/nope/results.csv", "/ws?poll=nope", "/api/polls/-x/tally"} {
		t.Run(path, func(t *testing.T) {
			r := s.get(t, path, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if r.code != 404 {
				t.Errorf("got %d, want 404", r.code)
			}
			if strings.HasPrefix(path, "/api/") && !strings.Contains(r.body, `"error":"no such poll"`) {
				t.Errorf("API 404 body %s, want a JSON error", r.body)
			}
			if strings.HasPrefix(path, "/p/") && !strings.HasSuffix(path, ".png") && !strings.Contains(r.body, "Poll not found") {
				t.Errorf("404 page lacks its words: %s", r.body)
			}
		})
	}
}

func TestDatabaseDown(t *testing.T) {
	s := newServer(t, nil)
	s.db.mu.Lock()
	s.db.down = true
	s.db.mu.Unlock()
	for _, path := range []string{"/p/something", "/api/polls/something/tally"} {
		if r := s.get(t, path); r.code != 503 {
			t.Errorf("%s with the database down: got %d, want 503", path, r.code)
		}
	}
}

func TestTallyAPI(t *testing.T) {
	s := newServer(t, nil)
	s.db.add(poll.DefaultID, "", []string{"Tea", "Coffee"}, []int64{10, 7}, 42, "")
	s.db.add("talks", "Q", []string{"Go", "SQL", "CSS"}, []int64{0, 2}, 3, "closed")
	tests := []struct{ path, want string }{
		{"/api/tally", `{"poll":"default","version":42,"counts":{"a":10,"b":7},"total":17,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"/api/polls/default/tally", `{"poll":"default","version":42,"counts":{"a":10,"b":7},"total":17,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"/api/polls/talks/tally", `{"poll":"talks","version":3,"counts":{"a":0,"b":2,"c":0},"total":2,"state":"closed","updated_at":"2026-11-26T19:30:00.123Z"}`},
	}
	for _, tt := range tests {
		r := s.get(t, tt.path)
		if r.code != 200 || r.body != tt.want || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: got %d %s %s, want 200 application/json %s", tt.path, r.code, r.header.Get("Content-Type"), r.body, tt.want)
		}
	}
	// A newer tally (as from NATS) is what the API answers next.
	s.hub.Offer(tally.New("talks", 4, []string{"a", "b", "c"}, map[string]int64{"c": 1}, "open", time.Now()))
	var got tally.Tally
	if err := json.Unmarshal([]byte(s.get(t, "/api/polls/talks/tally").body), &got); err != nil || got.Version != 4 {
		t.Errorf("after a newer tally got %+v %v, want version 4", got, err)
	}
}

func TestResultsCSV(t *testing.T) {
	s := newServer(t, nil)
	labels := []string{`Pizza, "the real one"`, "Sushi", "Pão de queijo"}
	s.db.add("food", "Lunch?", labels, []int64{2, 1, 0}, 3, "")
	r := s.get(t, "/api/polls/food/results.csv")
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("got %d %s, want 200 text/csv", r.code, r.header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, `"Pizza, ""the real one"""`) {
		t.Errorf("label not quoted as CSV: %s", r.body)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"option", "label", "votes", "percent"}, {"a", labels[0], "2", "67"}, {"b", "Sushi", "1", "33"}, {"c", "Pão de queijo", "0", "0"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", rows, want)
	}
	// Twelve options: twelve lines after the header, in order.
	s.db.add("dozen", "Twelve?", twelve, nil, 0, "")
	rows, _ = csv.NewReader(strings.NewReader(s.get(t, "/api/polls/dozen/results.csv").body)).ReadAll()
	if len(rows) != 13 || rows[12][0] != "l" || rows[12][1] != "Twelve" {
		t.Errorf("twelve options: got %q", rows)
	}
	// Labels a spreadsheet would run as formulas stay text.
	s.db.add("sheet", "Formulas?", []string{"=HYPERLINK(\"x\")", "@SUM(A1)", "+1", "Plain"}, nil, 0, "")
	rows, _ = csv.NewReader(strings.NewReader(s.get(t, "/api/polls/sheet/results.csv").body)).ReadAll()
	if len(rows) != 5 || rows[1][1] != "'=HYPERLINK(\"x\")" || rows[2][1] != "'@SUM(A1)" || rows[3][1] != "'+1" || rows[4][1] != "Plain" {
		t.Errorf("formula labels: got %q, want them prefixed with an apostrophe", rows)
	}
}

// TestWebSocketPerPoll: each client gets its poll's current tally, then
// its poll's changes only.
func TestWebSocketPerPoll(t *testing.T) {
	s := newServer(t, nil)
	s.db.add(poll.DefaultID, "", []string{"Tea", "Coffee"}, []int64{1}, 1, "")
	s.db.add("other", "Q", []string{"X", "Y", "Z"}, []int64{0, 0, 5}, 9, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.app.Listener(ln) }()
	defer s.app.Shutdown()
	base := "ws://" + ln.Addr().String()

	resp, err := http.Get("http://" + ln.Addr().String() + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET /ws: got %d, want 426", resp.StatusCode)
	}
	_, resp, err = websocket.DefaultDialer.Dial(base+"/ws?poll=nope", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Errorf("unknown poll: got %v %v, want 404 before the upgrade", resp, err)
	}

	dial := func(path string) *websocket.Conn {
		t.Helper()
		conn, _, err := websocket.DefaultDialer.Dial(base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	read := func(conn *websocket.Conn) tally.Tally {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.TextMessage {
			t.Errorf("message type %d, want text", typ)
		}
		var got tally.Tally
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("message %s: %v", b, err)
		}
		return got
	}
	def, other := dial("/ws"), dial("/ws?poll=other")
	if got := read(def); got.Poll != "default" || got.Version != 1 {
		t.Errorf("default's first message %+v, want default at version 1", got)
	}
	if got := read(other); got.Poll != "other" || got.Version != 9 || got.Counts["c"] != 5 {
		t.Errorf("other's first message %+v, want other at version 9", got)
	}
	s.hub.Offer(tally.New("other", 10, []string{"a", "b", "c"}, map[string]int64{"a": 1, "c": 5}, "closed", time.Now()))
	if got := read(other); got.Version != 10 || !got.Closed() {
		t.Errorf("other's second message %+v, want version 10, closed", got)
	}
	s.hub.Offer(tally.New("default", 2, []string{"a", "b"}, map[string]int64{"a": 1, "b": 1}, "", time.Now()))
	if got := read(def); got.Poll != "default" || got.Version != 2 {
		t.Errorf("default's second message %+v, want default at version 2 (nothing of other)", got)
	}
	// A shutdown closes the sockets with a close frame.
	s.hub.Close(time.Second)
	_ = def.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := def.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after shutdown got %v, want a going-away close frame", err)
	}
}

func TestHealthAndAssets(t *testing.T) {
	s := newServer(t, nil)
	for _, tt := range []struct {
		path, want string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", `"status":"ready"`, 200},
		{"/metrics", "result_polls_held", 200},
		{"/static/tally.js", "data-words-many", 200},
		{"/static/result.js", "/ws?poll=", 200},
		{"/static/style.css", ".bar", 200},
		{"/static/missing.css", "", 404},
	} {
		r := s.get(t, tt.path)
		if r.code != tt.code || !strings.Contains(r.body, tt.want) {
			t.Errorf("GET %s: got %d, want %d containing %q", tt.path, r.code, tt.code, tt.want)
		}
	}
}

// TestHeldPollIDsSurviveLaterRequests: the ids the hub keeps are not
// overwritten by later requests (Fiber reuses its request buffers).
func TestHeldPollIDsSurviveLaterRequests(t *testing.T) {
	s := newServer(t, nil)
	s.db.add("talks", "Q", []string{"A", "B"}, nil, 1, "")
	s.db.add("dozen", "Q", twelve, nil, 1, "")
	for range 3 {
		for _, path := range []string{"/p/talks", "/api/polls/dozen/tally", "/p/nope", "/p/zzzzz/present", "/api/polls/talks/results.csv"} {
			s.get(t, path)
		}
	}
	held := s.hub.Held()
	slices.Sort(held)
	if want := []string{"default", "dozen", "talks"}; !slices.Equal(held, want) {
		t.Errorf("hub holds %q, want %q", held, want)
	}
}

func TestSiteHeaderAndClosedPage(t *testing.T) {
	tests := []struct {
		name, path string
		env        map[string]string
		want, not  []string
	}{
		{"header links to the vote server on this host", "/p/open", nil,
			[]string{`class="brand" href="http://example.com:8080/"`, `href="http://example.com:8080/new">New poll<`, ">Live vote<"}, nil},
		{"header links to VOTE_URL", "/p/open?lang=es", map[string]string{"VOTE_URL": "https://vote.example.org/base/"},
			[]string{`href="https://vote.example.org/base/"`, `href="https://vote.example.org/base/new">Nueva encuesta<`, ">Votación en vivo<"}, nil},
		{"open poll: vote button, live marker", "/p/open", nil,
			[]string{`data-poll-state="open"`, `class="when-open"><a class="button" href="http://example.com:8080/p/open">Vote<`, `class="live when-open"`}, nil},
		{"closed poll: final results, see the poll", "/p/shut", nil,
			[]string{`data-poll-state="closed"`, ">Final results<", `class="when-closed"><a href="http://example.com:8080/p/shut">See the poll<`}, nil},
		{"presenter view has no site header", "/p/open/present", nil,
			[]string{`class="live when-open"`, ">See the poll<"}, []string{`class="top"`, ">New poll<"}},
		{"not found page has the header", "/p/nope", nil, []string{`href="http://example.com:8080/new">New poll<`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.env)
			s.db.add("open", "Open?", []string{"Yes", "No"}, []int64{1, 0}, 1, "")
			s.db.add("shut", "Shut?", []string{"Yes", "No"}, []int64{1, 0}, 2, "closed")
			r := s.get(t, tt.path)
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("got %d, page lacks %s", r.code, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(r.body, w) {
					t.Errorf("page has %s, want none", w)
				}
			}
			checkStrictPage(t, r.body)
		})
	}
}

func TestSizeClass(t *testing.T) {
	long := strings.Repeat("é", longQuestion+1)
	tests := []struct {
		options  int
		question string
		want     string
	}{
		{2, "Short?", "opts-few"},
		{4, strings.Repeat("é", longQuestion), "opts-few"},
		{5, "Short?", "opts-mid"},
		{8, long, "opts-mid q-long"},
		{9, "Short?", "opts-many"},
		{12, long, "opts-many q-long"},
	}
	for _, tt := range tests {
		if got := sizeClass(tt.options, tt.question); got != tt.want {
			t.Errorf("sizeClass(%d, %d characters): got %q, want %q", tt.options, len([]rune(tt.question)), got, tt.want)
		}
	}
}

// TestPathPrefix: with RESULT_PATH_PREFIX every page, asset, API route and
// the WebSocket move under the prefix and the pages link there, while
// health and metrics stay at the root for probes and scrapers.
func TestPathPrefix(t *testing.T) {
	s := newServer(t, map[string]string{"RESULT_PATH_PREFIX": "/results/", "VOTE_URL": "https://vote.example"})
	s.db.add("q1", "Which?", []string{"Red", "Blue"}, []int64{2, 1}, 4, "")
	for _, tt := range []struct {
		path string
		code int
		want []string
	}{
		{"/results/", 200, []string{`href="/results/static/style.css"`, `src="/results/static/result.js"`, `data-base="/results"`}},
		{"/results/p/q1", 200, []string{`href="/results/p/q1/present"`, `href="/results/api/polls/q1/results.csv"`, `src="/results/static/tally.js"`}},
		{"/results/p/q1/present", 200, []string{`src="/results/p/q1/qr.png"`}},
		{"/results/p/nope", 404, []string{`href="/results/"`}},
		{"/results/api/polls/q1/tally", 200, []string{`"total":3`}},
		{"/results/api/polls/q1/results.csv", 200, []string{"option,label,votes,percent"}},
		{"/results/static/result.js", 200, []string{"data-base"}},
		{"/results/ws", 426, nil},
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready"}},
		{"/metrics", 200, []string{"result_polls_held"}},
		{"/p/q1", 404, nil},
		{"/api/tally", 404, nil},
		{"/static/style.css", 404, nil},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := s.get(t, tt.path)
			if r.code != tt.code {
				t.Fatalf("GET %s: got %d, want %d", tt.path, r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("GET %s: body lacks %s", tt.path, w)
				}
			}
		})
	}
}
