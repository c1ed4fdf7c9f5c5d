// Package polldb reads what the result server needs from PostgreSQL, with
// SELECT only (the worker owns the schema): poll definitions, cached in
// memory since they never change, and the committed tallies of many polls
// in one query.
package polldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/backoff"
	"livevote/shared/poll"
	"livevote/shared/schema"
	"livevote/shared/tally"
)

// ErrNotFound reports a poll that does not exist.
var ErrNotFound = errors.New("polldb: no such poll")

// Querier is the part of a pgx pool the store uses.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Ping(ctx context.Context) error
}

// Options tune a Store; the zero value is the production setting.
type Options struct {
	// MaxCached bounds the definitions kept in memory; 4096 when zero.
	MaxCached int
	// NotFoundWait is how long an unknown but valid id is asked for again
	// before ErrNotFound: a poll just created may still be on its way
	// through the worker. About a second when zero.
	NotFoundWait time.Duration
}

// Store reads polls and tallies.
type Store struct {
	db           Querier
	defaultPoll  poll.Poll
	maxCached    int
	notFoundWait time.Duration

	mu       sync.Mutex
	cache    map[string]poll.Poll
	inflight map[string]*lookup
}

// lookup is one read of a definition that concurrent requests for the same
// id share, so a burst of page views of a new poll costs one query.
type lookup struct {
	done chan struct{}
	p    poll.Poll
	err  error
}

// New returns a Store on db. The default poll is defaultPoll (its labels
// come from the configuration, not the database).
func New(db Querier, defaultPoll poll.Poll, o Options) *Store {
	if o.MaxCached <= 0 {
		o.MaxCached = 4096
	}
	if o.NotFoundWait <= 0 {
		o.NotFoundWait = time.Second
	}
	return &Store{db: db, defaultPoll: defaultPoll, maxCached: o.MaxCached, notFoundWait: o.NotFoundWait,
		cache: make(map[string]poll.Poll), inflight: make(map[string]*lookup)}
}

// NewPool is New over a pgx pool.
func NewPool(pool *pgxpool.Pool, defaultPoll poll.Poll) *Store {
	return New(pool, defaultPoll, Options{})
}

// selectPoll reads one poll's definition, options in position order.
const selectPoll = `
SELECT p.question, p.state, p.created_at, o.option, o.label
FROM polls p JOIN poll_options o ON o.poll = p.id
WHERE p.id = $1
ORDER BY o.position`

// Poll returns poll id's definition; ErrNotFound when id is not a poll id,
// or is unknown after being asked again for about a second. Its State is
// the state when it was first read: the current one travels in the tally.
func (s *Store) Poll(ctx context.Context, id string) (poll.Poll, error) {
	if id == poll.DefaultID {
		return s.defaultPoll, nil
	}
	if !poll.ValidID(id) {
		return poll.Poll{}, ErrNotFound
	}
	// Our own copy: the id becomes a map key, and callers' strings may
	// share a buffer that is reused (Fiber's request values are).
	id = strings.Clone(id)
	s.mu.Lock()
	if p, ok := s.cache[id]; ok {
		s.mu.Unlock()
		return p, nil
	}
	l, running := s.inflight[id]
	if !running {
		l = &lookup{done: make(chan struct{})}
		s.inflight[id] = l
	}
	s.mu.Unlock()
	if running {
		select {
		case <-l.done:
			return l.p, l.err
		case <-ctx.Done():
			return poll.Poll{}, ctx.Err()
		}
	}

	l.p, l.err = s.read(ctx, id)
	s.mu.Lock()
	delete(s.inflight, id)
	if l.err == nil {
		if len(s.cache) >= s.maxCached {
			// Forget one at random: definitions are cheap to read again.
			for k := range s.cache {
				delete(s.cache, k)
				break
			}
		}
		s.cache[id] = l.p
	}
	s.mu.Unlock()
	close(l.done)
	return l.p, l.err
}

// read asks for the definition until it is found, an error other than
// "not found" occurs, or notFoundWait has passed.
func (s *Store) read(ctx context.Context, id string) (poll.Poll, error) {
	deadline := time.Now().Add(s.notFoundWait)
	b := backoff.Backoff{Min: s.notFoundWait / 8, Max: s.notFoundWait / 3}
	for {
		p, err := s.readOnce(ctx, id)
		if !errors.Is(err, ErrNotFound) || time.Now().After(deadline) {
			return p, err
		}
		if !b.Wait(ctx) {
			return poll.Poll{}, ctx.Err()
		}
	}
}

func (s *Store) readOnce(ctx context.Context, id string) (poll.Poll, error) {
	rows, err := s.db.Query(ctx, selectPoll, id)
	if err != nil {
		return poll.Poll{}, fmt.Errorf("reading poll: %w", classify(err))
	}
	defer rows.Close()
	p := poll.Poll{ID: id}
	for rows.Next() {
		var o poll.Option
		if err := rows.Scan(&p.Question, &p.State, &p.CreatedAt, &o.ID, &o.Label); err != nil {
			return poll.Poll{}, fmt.Errorf("reading poll: %w", classify(err))
		}
		p.Options = append(p.Options, o)
	}
	if err := rows.Err(); err != nil {
		return poll.Poll{}, fmt.Errorf("reading poll: %w", classify(err))
	}
	if len(p.Options) == 0 {
		return poll.Poll{}, ErrNotFound
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// Tallies reads the committed tallies of the polls ids in one query; a
// poll that does not exist is not in the answer.
func (s *Store) Tallies(ctx context.Context, ids []string) (map[string]tally.Tally, error) {
	rows, err := s.db.Query(ctx, schema.SelectTallies, ids)
	if err != nil {
		return nil, fmt.Errorf("reading tallies: %w", classify(err))
	}
	out, err := schema.ScanTallies(rows)
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.Ping(ctx)
}

// classify turns "the tables are not there" into schema.ErrNoSchema: the
// worker has not migrated the database yet, which callers wait out.
func classify(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42P01" { // undefined_table
		return fmt.Errorf("%w (%s)", schema.ErrNoSchema, pg.Message)
	}
	return err
}
