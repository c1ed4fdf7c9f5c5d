package relay

import (
	"context"
	"errors"
	"livevote/shared/ballot"
	"testing"

	"livevote/shared/poll"
	"livevote/shared/tally"
	"livevote/worker/internal/pollcopy"
	"livevote/worker/internal/votedb"
)

// fullCopy is the poll copy of a Redis at maxmemory with noeviction: every
// write is refused with OOM (its reads still work).
type fullCopy struct {
	*pollcopy.Copy
}

var errOOM = errors.New("OOM command not allowed when used memory > 'maxmemory'. script: 3b1f, on @user_script:5")

func (fullCopy) WriteTallies(context.Context, []tally.Tally) error {
	return errOOM
}

func (fullCopy) Restore(context.Context, []votedb.Stored) (int, error) {
	return 0, errOOM
}

// TestRelayDrainsWhenRedisIsFull: with the poll copy refused (Redis full),
// the worker still starts, commits and acknowledges every batch, since
// acknowledging is what frees Redis's memory.
func TestRelayDrainsWhenRedisIsFull(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 250; i++ {
		f.vote(poll.DefaultID, voterID(i), []string{"a", "b"}[i%2])
	}
	r := f.relayAs("test", f.store, fullCopy{pollcopy.New(f.rdb, ballot.OneShard(f.stream), 0)}, 100, 0)
	defer f.startRelay(r)()
	f.waitDrained()
	f.wantCounts(poll.DefaultID, map[string]int64{"a": 125, "b": 125})
	if _, ok := f.copyTally(poll.DefaultID); ok {
		t.Error("the refused copy holds a tally")
	}
}
