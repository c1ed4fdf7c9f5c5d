// Package voterkey keeps the key that signs voter ids. Every vote server on
// one Redis uses the same key with no setting: the first one to need it
// creates it there (32 random bytes, SET NX, so one creation wins), and the
// others read it. A vote server keeps the key in memory; if Redis loses it
// (a restart without persistence), the server writes its own back, so that
// the ids already given out stay valid. VOTER_SECRET, when set, is the key
// instead and Redis is not asked.
package voterkey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/backoff"
	"livevote/shared/ballot"
)

// ErrUnknown reports that the key is not known yet: Redis has not
// answered since the server started.
var ErrUnknown = errors.New("voterkey: the voter id key is not known yet")

// keyBytes is the size of a key made here.
const keyBytes = 32

// RedisKey is where the key of stream's vote servers lives: beside the
// stream, so installations and tests sharing a Redis each have their own.
func RedisKey(stream string) string { return stream + ":voter-key" }

// Keeper holds the key and the signer made of it.
type Keeper struct {
	rdb    redis.UniversalClient // nil with a fixed key
	name   string
	logger *slog.Logger
	signer atomic.Pointer[ballot.VoterSigner]
	held   atomic.Pointer[[]byte]
	// fetching lets one request at a time ask Redis for a key not known
	// yet; the others wait for it or give up with their context.
	fetching chan struct{}
}

// Fixed returns a Keeper of secret (VOTER_SECRET), which never asks Redis.
func Fixed(secret []byte) (*Keeper, error) {
	s, err := ballot.NewVoterSigner(secret)
	if err != nil {
		return nil, err
	}
	k := &Keeper{}
	k.signer.Store(s)
	return k, nil
}

// New returns a Keeper of the key of stream's vote servers on rdb; the key
// is read or created by the first Signer call or by Run.
func New(rdb redis.UniversalClient, stream string, logger *slog.Logger) *Keeper {
	return &Keeper{rdb: rdb, name: RedisKey(stream), logger: logger, fetching: make(chan struct{}, 1)}
}

// Current returns the signer, or nil while the key is not known; it never
// waits for Redis.
func (k *Keeper) Current() *ballot.VoterSigner { return k.signer.Load() }

// Signer returns the signer, asking Redis for the key first when it is not
// known yet. The error wraps ErrUnknown and Redis's answer.
func (k *Keeper) Signer(ctx context.Context) (*ballot.VoterSigner, error) {
	if s := k.signer.Load(); s != nil {
		return s, nil
	}
	select {
	case k.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnknown, ctx.Err())
	}
	defer func() { <-k.fetching }()
	if s := k.signer.Load(); s != nil {
		return s, nil // another request fetched it meanwhile
	}
	if err := k.Sync(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknown, err)
	}
	return k.signer.Load(), nil
}

// Sync makes the key and Redis agree: with no key held, it creates one in
// Redis unless one is there, and takes what Redis holds; with a key held,
// it writes it back if Redis lost it, or takes Redis's if another server
// wrote a different one meanwhile (ids signed with the old one are then
// refused, and the log says so). It does nothing with a fixed key.
func (k *Keeper) Sync(ctx context.Context) error {
	if k.rdb == nil {
		return nil
	}
	held := k.held.Load()
	var candidate []byte
	if held != nil {
		candidate = *held
	} else {
		candidate = make([]byte, keyBytes)
		_, _ = rand.Read(candidate)
	}
	var set *redis.BoolCmd
	var get *redis.StringCmd
	_, err := k.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetNX(ctx, k.name, candidate, 0)
		get = p.Get(ctx, k.name)
		return nil
	})
	got, gerr := get.Bytes()
	if gerr != nil {
		// A full Redis refuses the SET but still answers the GET; with
		// no key to read, the SET's error is the one that tells why.
		if serr := set.Err(); serr != nil {
			return fmt.Errorf("creating the voter id key: %w", serr)
		}
		if err == nil {
			err = gerr
		}
		return fmt.Errorf("reading the voter id key: %w", err)
	}
	s, err := ballot.NewVoterSigner(got)
	if err != nil {
		return fmt.Errorf("the voter id key in Redis (%s) is not a key: %w", k.name, err)
	}
	switch cur := k.signer.Load(); {
	case cur != nil && cur.Same(got):
		if set.Val() {
			k.logger.Warn("Redis had lost the voter id key; this vote server wrote it back", "key", k.name)
		}
		return nil
	case cur != nil:
		k.logger.Warn("the voter id key in Redis is not the one this vote server held (Redis lost it and another vote server made a new one); ids issued before are no longer accepted", "key", k.name)
	case set.Val():
		k.logger.Info("voter id key created in Redis", "key", k.name)
	default:
		k.logger.Info("voter id key read from Redis", "key", k.name)
	}
	k.held.Store(&got)
	k.signer.Store(s)
	return nil
}

// Run keeps the key in step with Redis until ctx ends: until the key is
// known it asks with growing delays, then every interval it checks that
// Redis still holds it (Sync). It returns at once with a fixed key.
func (k *Keeper) Run(ctx context.Context, every time.Duration) {
	if k.rdb == nil {
		return
	}
	retry := backoff.Backoff{Max: every}
	failing := false
	for {
		wait := every
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := k.Sync(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			// Once per run of failures: Redis being down is logged by
			// the health monitor too.
			if !failing {
				if k.signer.Load() == nil {
					k.logger.Warn("voter id key not known yet: votes are refused (503) until Redis answers", "error", err)
				} else {
					k.logger.Warn("checking the voter id key in Redis failed; retrying", "error", err)
				}
			}
			failing = true
			wait = retry.Next()
		default:
			failing = false
			retry.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
