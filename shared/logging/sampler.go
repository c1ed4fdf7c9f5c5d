package logging

import (
	"log/slog"
	"sync"
	"time"
)

// Sampler logs one line of a kind at most once per interval and counts the
// ones it left out, so that a failure hit by every request (Redis down or
// full under a thousand votes a second) says so once a second instead of
// flooding the log. The zero Sampler logs every line; a Sampler is safe for
// concurrent use.
type Sampler struct {
	Every time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

// Warn logs msg at warning level unless a line went out less than Every
// ago; the line says how many were left out since the last one
// ("suppressed").
func (s *Sampler) Warn(logger *slog.Logger, msg string, args ...any) {
	now := time.Now()
	s.mu.Lock()
	if !s.last.IsZero() && now.Sub(s.last) < s.Every {
		s.dropped++
		s.mu.Unlock()
		return
	}
	dropped := s.dropped
	s.last, s.dropped = now, 0
	s.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	logger.Warn(msg, args...)
}
