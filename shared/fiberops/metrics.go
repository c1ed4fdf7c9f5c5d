package fiberops

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of requests no route of the server takes
// (404, 405): one value for every unknown path, so a scan of random paths
// adds no series.
const Unmatched = "unmatched"

// RequestMetrics returns the middleware that counts every request in
// http_requests_total{route,method,code} and times it in
// http_request_duration_seconds{route,method}, registered with reg. It
// must come first (app.Use before anything else) to see every answer.
//
// route is the pattern of the route that answered ("/p/:id"), never the
// path, so the series stay bounded; a request a middleware refused before
// its route (a cross-site post) is labelled with the route it was for. An
// error a handler returned is answered here, by the app's ErrorHandler, so
// its status is the one counted.
func RequestMetrics(reg prometheus.Registerer) fiber.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "HTTP requests answered, by route pattern (unmatched: no route), method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request (for /ws, the handshake), by route pattern and method.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	reg.MustRegister(requests, duration)
	return func(c *fiber.Ctx) error {
		start := time.Now()
		own := c.Route()
		if err := c.Next(); err != nil {
			if err := c.App().ErrorHandler(c, err); err != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		route, method := routeLabel(c, own), methodLabel(c.Method())
		requests.WithLabelValues(route, method, strconv.Itoa(c.Response().StatusCode())).Inc()
		duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// methodLabel is the method as a label: one of the constant strings of
// the methods Fiber serves, else "OTHER". c.Method() shares fasthttp's
// request buffer, so a label made from it would change under the metric
// when the buffer is reused (the registry then refuses to gather: /metrics
// answers 500); and the constants bound the label's values.
func methodLabel(m string) string {
	for _, known := range fiber.DefaultMethods {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// routeLabel is the pattern of the route that answered c. When the chain
// ended in own, the route this middleware runs in (Fiber merges the app.Use
// middlewares registered one after the other into it), no route answered:
// a middleware did, or nothing matched. Then it is the first route of c's
// method whose pattern matches the path, else Unmatched.
func routeLabel(c *fiber.Ctx, own *fiber.Route) string {
	if r := c.Route(); r != own && len(r.Handlers) > 0 {
		return r.Path
	}
	app := c.App()
	cfg := app.Config()
	path := c.Path()
	if !cfg.StrictRouting && len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	method := c.Method()
	for _, routes := range app.Stack() { // one slice per method
		if len(routes) == 0 || routes[0].Method != method {
			continue
		}
		for _, r := range routes {
			if fiber.RoutePatternMatch(path, r.Path, cfg) {
				return r.Path
			}
		}
	}
	return Unmatched
}
