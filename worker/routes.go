package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/health"
	"livevote/shared/opsmetrics"
)

// routes serves the worker's health and metrics with the handlers every
// server of the system uses (the Fiber servers through shared/fiberops);
// the worker has no other routes.
func routes(monitor *health.Monitor, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health.LiveHandler())
	mux.Handle("GET /readyz", monitor.ReadyHandler())
	mux.Handle("GET /metrics", opsmetrics.Handler(reg))
	return mux
}
