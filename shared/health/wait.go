package health

import (
	"context"
	"log/slog"
	"time"
)

// WaitFor calls op until it succeeds or ctx ends, with growing delays (up
// to 3 s), logging the first failure and the recovery. Services use it for
// start-up steps that need a dependency that may not be up yet.
func WaitFor(ctx context.Context, logger *slog.Logger, what string, op func() error) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			if attempt > 1 {
				logger.Info(what+" succeeded", "attempts", attempt)
			}
			return nil
		}
		if attempt == 1 {
			logger.Warn(what+" failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 3*time.Second)
	}
}
