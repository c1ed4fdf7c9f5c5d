package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	s := &Sampler{Every: 50 * time.Millisecond}
	for i := 0; i < 100; i++ {
		s.Warn(logger, "vote not recorded", "poll", "default")
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Fatalf("100 warnings at once: got %d lines, want 1:\n%s", got, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	s.Warn(logger, "vote not recorded", "poll", "default")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"suppressed":99`) {
		t.Fatalf("after the interval: got %q, want a second line with suppressed 99", lines)
	}

	buf.Reset()
	var every Sampler
	for i := 0; i < 3; i++ {
		every.Warn(logger, "x")
	}
	if got := strings.Count(buf.String(), "\n"); got != 3 {
		t.Errorf("zero Sampler: got %d lines, want 3", got)
	}
}
