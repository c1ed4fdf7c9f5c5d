package health

import (
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

// ReadyHandler answers GET /readyz: it probes every dependency now and
// answers 200 when all answer, else 503 with JSON naming the first that
// does not (its name only; the reason is logged at debug level, and the
// background round logs every change at warn).
func (m *Monitor) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := m.Probe(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !st.Ready() {
			m.logger.Debug("not ready", "dependency", st.Failing, "error", st.Err(st.Failing))
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(st.JSON())
	})
}
