package relay

import (
	"context"
	"errors"
	"time"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// epochEvery is how often the worker asks PostgreSQL for its epoch besides
// what each batch tells it, so that a restore with no vote after it still
// reaches the vote servers' copy and the result servers within seconds.
const epochEvery = 5 * time.Second

// errRestoring reports a database whose history changed but whose default
// poll is not there (yet): a restore that is still filling the tables.
var errRestoring = errors.New("relay: the database has no default poll yet (a restore in progress?)")

// checkEpoch reads the database's epoch when epochEvery has passed since
// the last read, and follows a change. An error is left to the batches to
// report: the next check tries again.
func (r *Relay) checkEpoch(ctx context.Context) {
	if time.Since(r.epochAt) < epochEvery {
		return
	}
	r.epochAt = time.Now()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	epoch, err := r.store.Epoch(qctx)
	if err != nil {
		return
	}
	r.noticeEpoch(ctx, epoch)
}

// noticeEpoch compares epoch, the database's as a batch or a check read
// it, with the last one seen. After a change (a restore, another database)
// it makes the rest of the system follow the database, and remembers the
// new epoch only once that worked, so that the next check tries again.
func (r *Relay) noticeEpoch(ctx context.Context, epoch string) {
	if epoch == "" || epoch == r.epoch {
		return
	}
	if r.epoch == "" {
		// The first one seen: the start (restoreCopy) has followed it.
		r.epoch = epoch
		return
	}
	if err := r.followDatabase(ctx); err != nil {
		r.logger.Warn("following the database's new history failed; retrying", "epoch", epoch, "error", err)
		return
	}
	r.logger.Warn("the database's history changed (a restore or another database); following it",
		"epoch_was", r.epoch, "epoch", epoch)
	r.epoch = epoch
}

// followDatabase shows the database's history everywhere after it changed:
// it forgets the polls known to exist (a restore may have removed some:
// their next votes create them again from the copy), puts every poll's
// tally into the vote servers' copy (a tally of another epoch replaces any
// version there) and publishes it (a result server reads the database when
// a tally of another epoch reaches it).
func (r *Relay) followDatabase(ctx context.Context) error {
	clear(r.known)
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	def, err := r.store.Tallies(qctx, []string{poll.DefaultID})
	if err != nil {
		return err
	}
	if _, ok := def[poll.DefaultID]; !ok {
		return errRestoring
	}
	polls, err := r.store.Polls(qctx)
	if err != nil {
		return err
	}
	tallies := make([]tally.Tally, 0, len(polls)+1)
	tallies = append(tallies, def[poll.DefaultID])
	for _, p := range polls {
		tallies = append(tallies, p.Tally)
	}
	if _, err := r.copy.Restore(qctx, polls); err != nil {
		return err
	}
	if err := r.copy.WriteTallies(qctx, tallies); err != nil {
		return err
	}
	for _, t := range tallies {
		r.publish(t)
	}
	return nil
}
