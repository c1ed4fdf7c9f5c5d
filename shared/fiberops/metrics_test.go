package fiberops

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// errGone is answered 410 by the test app's ErrorHandler.
var errGone = errors.New("gone")

// metricsApp is a server shaped like ours: the metrics middleware first, a
// middleware that refuses some posts, routes with parameters, a handler
// returning an error for the app's ErrorHandler.
func metricsApp(t *testing.T) (*fiber.App, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		if errors.Is(err, errGone) {
			return c.Status(fiber.StatusGone).SendString("gone")
		}
		return fiber.DefaultErrorHandler(c, err)
	}})
	app.Use(RequestMetrics(reg))
	app.Use(func(c *fiber.Ctx) error {
		if c.Get("Sec-Fetch-Site") == "cross-site" {
			return c.SendStatus(fiber.StatusForbidden)
		}
		return c.Next()
	})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("home") })
	app.Get("/p/:id", func(c *fiber.Ctx) error { return c.SendString(c.Params("id")) })
	app.Post("/p/:id", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusAccepted) })
	app.Get("/p/:id/gone", func(*fiber.Ctx) error { return errGone })
	app.Get("/static/:name", func(*fiber.Ctx) error { return fiber.ErrNotFound })
	app.Get("/boom", func(*fiber.Ctx) error { return errors.New("boom") })
	return app, reg
}

// series returns the samples of a family as "label=value,…" → value (the
// histogram's sample count for a histogram), sorted labels.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			got[strings.Join(labels, ",")] = v
		}
	}
	return got
}

func TestRequestMetricsLabels(t *testing.T) {
	tests := []struct {
		name, method, target string
		header               string // Sec-Fetch-Site
		wantCode             int
		wantSeries           string // of http_requests_total
	}{
		{"root", "GET", "/", "", 200, "code=200,method=GET,route=/"},
		{"the pattern, not the path", "GET", "/p/q7", "", 200, "code=200,method=GET,route=/p/:id"},
		{"trailing slash", "GET", "/p/q7/", "", 200, "code=200,method=GET,route=/p/:id"},
		{"another method", "POST", "/p/q7", "", 202, "code=202,method=POST,route=/p/:id"},
		{"refused by a middleware before its route", "POST", "/p/q7", "cross-site", 403, "code=403,method=POST,route=/p/:id"},
		{"handler error through the ErrorHandler", "GET", "/p/q7/gone", "", 410, "code=410,method=GET,route=/p/:id/gone"},
		{"handler's 404", "GET", "/static/nope.js", "", 404, "code=404,method=GET,route=/static/:name"},
		{"handler's plain error", "GET", "/boom", "", 500, "code=500,method=GET,route=/boom"},
		{"unknown path", "GET", "/wp-login.php", "", 404, "code=404,method=GET,route=unmatched"},
		{"unknown path refused by a middleware", "POST", "/nowhere", "cross-site", 403, "code=403,method=POST,route=unmatched"},
		{"method not allowed", "DELETE", "/p/q7", "", 405, "code=405,method=DELETE,route=unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, reg := metricsApp(t)
			req := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.header != "" {
				req.Header.Set("Sec-Fetch-Site", tt.header)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			want := map[string]float64{tt.wantSeries: 1}
			if got := series(t, reg, "http_requests_total"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got http_requests_total %v, want %v", got, want)
			}
			route := tt.wantSeries[strings.Index(tt.wantSeries, "route="):]
			wantDuration := map[string]float64{"method=" + tt.method + "," + route: 1}
			if got := series(t, reg, "http_request_duration_seconds"); fmt.Sprint(got) != fmt.Sprint(wantDuration) {
				t.Errorf("got http_request_duration_seconds counts %v, want %v", got, wantDuration)
			}
		})
	}
}

// TestRequestMetricsBounded: a scan of many paths, known and unknown, adds
// one series per route pattern, not one per path.
func TestRequestMetricsBounded(t *testing.T) {
	app, reg := metricsApp(t)
	for i := range 200 {
		for _, target := range []string{fmt.Sprintf("/p/poll%d", i), fmt.Sprintf("/scan/%d/.env", i), fmt.Sprintf("/static/%d.css", i)} {
			resp, err := app.Test(httptest.NewRequest("GET", target, nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	want := map[string]float64{
		"code=200,method=GET,route=/p/:id":        200,
		"code=404,method=GET,route=unmatched":     200,
		"code=404,method=GET,route=/static/:name": 200,
	}
	if got := series(t, reg, "http_requests_total"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got http_requests_total %v, want %v", got, want)
	}
}

// BenchmarkRequestMetrics: the cost per request of a route's answer and of
// an unknown path's (which searches the routes).
func BenchmarkRequestMetrics(b *testing.B) {
	for _, target := range []string{"/p/q7", "/scan/.env"} {
		b.Run(target, func(b *testing.B) {
			app := fiber.New()
			app.Use(RequestMetrics(prometheus.NewRegistry()))
			for i := range 20 {
				app.Get(fmt.Sprintf("/r%d/:id", i), func(c *fiber.Ctx) error { return c.SendStatus(200) })
			}
			app.Get("/p/:id", func(c *fiber.Ctx) error { return c.SendStatus(200) })
			h := app.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(target)
			b.ReportAllocs()
			for b.Loop() {
				h(&ctx)
			}
		})
	}
}

// TestMetricsOverKeepAliveConnections serves many requests of several
// methods over a few keep-alive connections of a real listener, where
// fasthttp reuses each connection's request buffer: every label must stay
// what it was, so the registry still gathers (a label sharing the buffer
// turned "POST" into "POS" under load and /metrics into a 500).
func TestMetricsOverKeepAliveConnections(t *testing.T) {
	app, reg := metricsApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	client := &fasthttp.Client{MaxConnsPerHost: 2}
	methods := []string{"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"}
	for i := range 700 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.SetMethod(methods[i%len(methods)])
		req.SetRequestURI(fmt.Sprintf("http://%s/p/x%d", ln.Addr(), i))
		if err := client.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gathering after 700 requests: %v", err)
	}
	total := 0.0
	for labels, n := range series(t, reg, "http_requests_total") {
		ok := false
		for _, m := range methods {
			ok = ok || strings.Contains(labels, "method="+m+",") || strings.HasSuffix(labels, "method="+m)
		}
		if !ok {
			t.Errorf("series %s: its method is none of %v", labels, methods)
		}
		total += n
	}
	if total != 700 {
		t.Errorf("counted %v requests, want 700", total)
	}
}

func TestMethodLabel(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "POST": "POST", "BREW": "OTHER", "get": "OTHER", "": "OTHER"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
