package relay

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits longer after each failure, up to a few seconds, with jitter
// so that several workers do not retry in step.
type backoff struct {
	n int
}

func (b *backoff) next() time.Duration {
	d := 50 * time.Millisecond << min(b.n, 6) // 50ms … 3.2s
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// wait sleeps for the next delay or until ctx ends.
func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// retry calls op until it succeeds or ctx ends, reporting each failure.
func retry(ctx context.Context, op func() error, onErr func(err error, attempt int)) error {
	var b backoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		onErr(err, attempt)
		if ctx.Err() != nil {
			return err
		}
		b.wait(ctx)
		if ctx.Err() != nil {
			return err
		}
	}
}

// afterGrace returns a context that ends grace after parent does: work
// begun before a stop gets that long to finish.
func afterGrace(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}
