package health

import (
	"context"
	"log/slog"
	"time"

	"livevote/shared/backoff"
)

// WaitFor calls op until it succeeds or ctx ends, with growing delays (up
// to 3 s), logging the first failure and the recovery. Services use it for
// start-up steps that need a dependency that may not be up yet.
func WaitFor(ctx context.Context, logger *slog.Logger, what string, op func() error) error {
	failures := 0
	err := backoff.Retry(ctx, backoff.Backoff{Min: 100 * time.Millisecond, Max: 3 * time.Second}, op,
		func(err error, attempt int) {
			failures = attempt
			if attempt == 1 {
				logger.Warn(what+" failed; retrying", "error", err)
			}
		})
	if err != nil {
		return ctx.Err()
	}
	if failures > 0 {
		logger.Info(what+" succeeded", "attempts", failures+1)
	}
	return nil
}
