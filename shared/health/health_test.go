package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livevote/shared/servicetest"
)

func TestProbeNamesFirstFailing(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name        string
		checks      []Check
		wantFailing string
	}{
		{"all up", []Check{{"redis", ok}, {"postgres", ok}}, ""},
		{"second down", []Check{{"redis", ok}, {"postgres", down}}, "postgres"},
		{"both down names first", []Check{{"redis", down}, {"postgres", down}}, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMonitor(slog.New(slog.DiscardHandler), time.Second, tt.checks...)
			st := m.Probe(context.Background())
			if st.Failing != tt.wantFailing {
				t.Errorf("got failing %q, want %q", st.Failing, tt.wantFailing)
			}
			if st.Ready() != (tt.wantFailing == "") {
				t.Errorf("got Ready() = %v with failing %q", st.Ready(), st.Failing)
			}
			var back map[string]any
			if err := json.Unmarshal(st.JSON(), &back); err != nil {
				t.Fatalf("status JSON: %v", err)
			}
			if tt.wantFailing != "" && back["failing"] != tt.wantFailing {
				t.Errorf("JSON %s does not name %q", st.JSON(), tt.wantFailing)
			}
		})
	}
}

func TestProbeTimesOut(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	m := NewMonitor(slog.New(slog.DiscardHandler), 50*time.Millisecond, Check{"nats", hang})
	start := time.Now()
	st := m.Probe(context.Background())
	if st.Ready() || st.Failing != "nats" {
		t.Errorf("got %+v, want nats failing", st)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("probe took %v, want about the 50ms timeout", d)
	}
}

func TestRunLogsTransitions(t *testing.T) {
	var up atomic.Bool
	var buf servicetest.LockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	m := NewMonitor(logger, time.Second, Check{"redis", func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errors.New("refused")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, 5*time.Millisecond); close(done) }()
	waitFor(t, func() bool { return strings.Contains(buf.String(), "dependency down") })
	up.Store(true)
	waitFor(t, func() bool { return m.Up("redis") && strings.Contains(buf.String(), "dependency up") })
	cancel()
	<-done
	if n := strings.Count(buf.String(), "dependency down"); n != 1 {
		t.Errorf("logged %d downs for one outage, want 1:\n%s", n, buf.String())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadyNamesOnlyTheDependency(t *testing.T) {
	secret := errors.New(`failed to connect to user=bob database=votes host=10.1.2.3: password authentication failed`)
	m := NewMonitor(slog.New(slog.DiscardHandler), time.Second,
		Check{Name: "redis", Probe: func(context.Context) error { return nil }},
		Check{Name: "postgres", Probe: func(context.Context) error { return secret }},
	)
	rec := httptest.NewRecorder()
	m.ReadyHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	body := rec.Body.String()
	if rec.Code != 503 || !strings.Contains(body, `"failing":"postgres"`) {
		t.Errorf("got %d %s, want 503 naming postgres", rec.Code, body)
	}
	for _, leak := range []string{"bob", "10.1.2.3", "password", "votes"} {
		if strings.Contains(body, leak) {
			t.Errorf("/readyz says %q: %s", leak, body)
		}
	}
	if st := m.Probe(context.Background()); !errors.Is(st.Err("postgres"), secret) {
		t.Errorf("Err(postgres) = %v, want the probe's error for the log", st.Err("postgres"))
	}
}
