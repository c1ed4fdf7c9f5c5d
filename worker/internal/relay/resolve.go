package relay

import (
	"context"
	"slices"

	"livevote/shared/backoff"
	"livevote/shared/poll"
	"livevote/worker/internal/votedb"
)

// maxKnown bounds the set of polls known to exist. Forgetting them all when
// it fills costs one query per poll in use, once.
const maxKnown = 100_000

// knownPolls is the set of polls the worker has seen in PostgreSQL. Polls
// are never deleted, so an entry never goes stale; it spares the batches of
// a busy poll the query that checks it exists. Only the goroutine running
// the Relay touches it.
type knownPolls map[string]struct{}

func (k knownPolls) add(id string) {
	if len(k) >= maxKnown {
		clear(k)
	}
	k[id] = struct{}{}
}

// unknownPolls returns, sorted and each once, the polls b's votes and state
// commands name that are neither the default poll, nor created in b, nor
// known to exist.
func (k knownPolls) unknownPolls(b votedb.Batch) []string {
	var ids []string
	add := func(id string) {
		if id == poll.DefaultID {
			return
		}
		if _, ok := k[id]; ok {
			return
		}
		// Runs of one poll's votes are common: skip repeats cheaply.
		if n := len(ids); n > 0 && ids[n-1] == id {
			return
		}
		ids = append(ids, id)
	}
	for _, v := range b.Votes {
		add(v.Poll)
	}
	for _, st := range b.States {
		add(st.Poll)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return slices.DeleteFunc(ids, func(id string) bool {
		return slices.ContainsFunc(b.Creates, func(r poll.Record) bool { return r.ID == id })
	})
}

// addMissingCreates makes sure every poll b names will exist when b is
// applied. A poll's create may sit in another worker's batch (or in a dead
// worker's, waiting to be claimed) while this batch holds its votes or its
// close; applied without it, they would be dropped. The vote server writes
// the definition into the poll copy in the same script that appends the
// create, so for each poll PostgreSQL lacks, b gets a create made from the
// copy (applied with ON CONFLICT DO NOTHING, like the create entry that
// arrives later). A poll neither holds is left out: its entries are
// invalid and the database drops them. It retries PostgreSQL and Redis
// until they answer or ctx ends.
func (r *Relay) addMissingCreates(ctx context.Context, b *votedb.Batch) error {
	ids := r.known.unknownPolls(*b)
	if len(ids) == 0 {
		return nil
	}
	var existing []string
	err := backoff.Retry(ctx, r.retry, func() error {
		var err error
		existing, err = r.store.Existing(ctx, ids)
		return err
	}, func(err error, attempt int) {
		r.metrics.DBErrors.Inc()
		if attempt == 1 {
			r.logger.Warn("finding the batch's polls failed; retrying", "polls", len(ids), "error", err)
		}
	})
	if err != nil {
		return err
	}
	for _, id := range existing {
		r.known.add(id)
	}
	missing := slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(existing, id) })
	if len(missing) == 0 {
		return nil
	}
	var defs map[string]string
	err = backoff.Retry(ctx, r.retry, func() error {
		var err error
		defs, err = r.copy.Definitions(ctx, missing)
		return err
	}, r.redisFailed("reading poll definitions from the copy", len(missing)))
	if err != nil {
		return err
	}
	for _, id := range missing {
		def, ok := defs[id]
		if !ok {
			continue
		}
		rec, err := parseDef(id, def)
		if err != nil {
			// The same definition as the create entry's, which is dropped
			// as invalid too: the poll's entries go with it.
			r.logger.Error("poll copy holds an invalid definition", "poll", id, "error", err)
			continue
		}
		b.Creates = append(b.Creates, rec)
		r.logger.Info("created poll from its copy ahead of its create entry", "poll", id)
	}
	return nil
}

// rememberPolls records the polls a committed batch showed to exist.
func (r *Relay) rememberPolls(res votedb.Result) {
	for _, p := range res.Polls {
		r.known.add(p.Tally.Poll)
	}
}
