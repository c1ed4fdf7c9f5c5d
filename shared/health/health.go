// Package health tracks whether a service's dependencies answer: it probes
// them on demand for /readyz and in the background, logging every change.
package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Probe answers nil when the dependency it checks is usable.
type Probe func(ctx context.Context) error

// Check is one named dependency ("redis", "postgres", "nats", …).
type Check struct {
	Name  string
	Probe Probe
}

// Status is the JSON body of /readyz. It names dependencies only: why one
// does not answer (addresses, users, driver messages) goes to the log, never
// to a public port.
type Status struct {
	// Status is "ready" or "unavailable".
	Status string `json:"status"`
	// Failing names the first dependency, in check order, that did not answer.
	Failing string `json:"failing,omitempty"`
	// Checks maps every dependency to "ok" or "down".
	Checks map[string]string `json:"checks"`
	// errs holds why each failing dependency did not answer, for the log.
	errs map[string]error
}

// Ready reports whether every dependency answered.
func (s Status) Ready() bool { return s.Failing == "" }

// JSON encodes s.
func (s Status) JSON() []byte {
	b, _ := json.Marshal(s) // a struct of strings always encodes
	return b
}

// Monitor probes a fixed set of checks.
type Monitor struct {
	logger  *slog.Logger
	checks  []Check
	timeout time.Duration

	mu   sync.Mutex
	last map[string]bool // name → up, after the last background round
}

// NewMonitor returns a Monitor of checks; each probe gets at most timeout.
func NewMonitor(logger *slog.Logger, timeout time.Duration, checks ...Check) *Monitor {
	return &Monitor{logger: logger, checks: checks, timeout: timeout, last: make(map[string]bool)}
}

// Probe runs every check at once and returns their status.
func (m *Monitor) Probe(ctx context.Context) Status {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	errs := make([]error, len(m.checks))
	var wg sync.WaitGroup
	for i, c := range m.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Probe(ctx)
		}()
	}
	wg.Wait()
	st := Status{Status: "ready", Checks: make(map[string]string, len(m.checks))}
	for i, c := range m.checks {
		if errs[i] == nil {
			st.Checks[c.Name] = "ok"
			continue
		}
		st.Checks[c.Name] = "down"
		if st.errs == nil {
			st.errs = make(map[string]error)
		}
		st.errs[c.Name] = errs[i]
		if st.Failing == "" {
			st.Status, st.Failing = "unavailable", c.Name
		}
	}
	return st
}

// Err returns why the named dependency did not answer, or nil.
func (s Status) Err(name string) error { return s.errs[name] }

// Up reports whether the named dependency answered in the last background
// round (false before the first).
func (m *Monitor) Up(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[name]
}

// Run probes every interval until ctx ends, logging each dependency that
// goes down or comes back. The first probe waits one interval, so that
// start-up work (connecting, applying the schema) is not reported as an
// outage.
func (m *Monitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := m.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		for _, c := range m.checks {
			up := st.Checks[c.Name] == "ok"
			was, seen := m.last[c.Name]
			m.last[c.Name] = up
			switch {
			case up && (!seen || !was) && !first:
				m.logger.Info("dependency up", "dependency", c.Name)
			case !up && (!seen || was):
				m.logger.Warn("dependency down", "dependency", c.Name, "error", st.errs[c.Name])
			}
		}
		m.mu.Unlock()
		first = false
	}
}
