package health

import (
	"context"
	"io"
	"net/http"
)

// LiveHandler answers GET /healthz: 200 while the process runs.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
}

// Answer probes every dependency now and returns the answer of GET
// /readyz: 200 when all answer, else 503, with JSON naming the first that
// does not (its name only; the reason is logged at debug level, and the
// background round logs every change at warn). Every server answers
// /readyz with it: the worker through ReadyHandler, the Fiber servers
// through shared/fiberops.
func (m *Monitor) Answer(ctx context.Context) (status int, body []byte) {
	st := m.Probe(ctx)
	if !st.Ready() {
		m.logger.Debug("not ready", "dependency", st.Failing, "error", st.Err(st.Failing))
		return http.StatusServiceUnavailable, st.JSON()
	}
	return http.StatusOK, st.JSON()
}

// ReadyHandler answers GET /readyz with Answer.
func (m *Monitor) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := m.Answer(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
}
