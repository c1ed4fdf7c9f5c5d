// Package backoff is the one retry helper of the system: growing delays
// with jitter, so that many processes do not retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields growing delays from Min to Max (both inclusive of jitter:
// each delay is drawn from the upper half of its step).
type Backoff struct {
	// Min is the first delay's step; 50 ms when zero.
	Min time.Duration
	// Max caps the step; 3 s when zero.
	Max time.Duration
	n   int
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 50 * time.Millisecond
	}
	if hi <= 0 {
		hi = 3 * time.Second
	}
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.n++
	return d/2 + rand.N(d/2+1)
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps for the next delay or until ctx ends, and reports whether
// the whole delay passed.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls op until it succeeds or ctx ends, calling onErr (which may be
// nil) after each failure with the attempt's number, from 1. It returns
// nil, or op's last error once ctx has ended.
func Retry(ctx context.Context, b Backoff, op func() error, onErr func(err error, attempt int)) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		if onErr != nil {
			onErr(err, attempt)
		}
		if ctx.Err() != nil || !b.Wait(ctx) {
			return err
		}
	}
}
