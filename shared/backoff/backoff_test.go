package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNextGrowsWithinBounds(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	steps := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, step := range steps {
		step *= time.Millisecond
		d := b.Next()
		if d < step/2 || d > step {
			t.Errorf("delay %d: got %v, want between %v and %v", i, d, step/2, step)
		}
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Errorf("after Reset: got %v, want at most 10ms", d)
	}
}

func TestRetry(t *testing.T) {
	calls := 0
	var attempts []int
	err := Retry(context.Background(), Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}, func(_ error, attempt int) { attempts = append(attempts, attempt) })
	if err != nil || calls != 3 || len(attempts) != 2 || attempts[1] != 2 {
		t.Errorf("got err %v after %d calls, failures reported %v; want success on the third call", err, calls, attempts)
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	boom := errors.New("down")
	start := time.Now()
	err := Retry(ctx, Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}, func() error { return boom }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the last error", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v after the context ended", took)
	}
}
