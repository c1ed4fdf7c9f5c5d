// Package ratelimit limits new voter ids and votes per client address, in
// Redis, so that every vote server on the same Redis shares the counts.
//
// The counting is go-redis/redis_rate's GCRA (one Lua script per check, one
// key per address and limit, expiring once the address is idle), not ours.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit is one rate: N events per Per, with bursts of N. The zero Limit is
// off: everything is allowed and Redis is not asked.
type Limit struct {
	N   int
	Per time.Duration
}

// Off reports whether l allows everything.
func (l Limit) Off() bool { return l.N == 0 }

// String is l as its variable takes it: "N/s", "N/m" or "off".
func (l Limit) String() string {
	switch {
	case l.Off():
		return "off"
	case l.Per == time.Second:
		return strconv.Itoa(l.N) + "/s"
	}
	return strconv.Itoa(l.N) + "/m"
}

// maxN bounds N: more than a million a second or a minute is no limit.
const maxN = 1_000_000

// ErrSyntax is wrapped by every error of Parse.
var ErrSyntax = errors.New(`ratelimit: want N/s, N/m (N a whole number from 1 to 1000000) or off`)

// Parse reads a limit: "N/s", "N/m" or "off" (any case, spaces around the
// parts allowed).
func Parse(s string) (Limit, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "off" {
		return Limit{}, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, ErrSyntax
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > maxN {
		return Limit{}, ErrSyntax
	}
	switch strings.TrimSpace(unit) {
	case "s":
		return Limit{N: n, Per: time.Second}, nil
	case "m":
		return Limit{N: n, Per: time.Minute}, nil
	}
	return Limit{}, ErrSyntax
}

// Kind names what a limit counts.
type Kind int

// The limits of a vote server.
const (
	NewVoters Kind = iota // each voter id issued (RATE_LIMIT_NEW_VOTERS)
	Votes                 // each vote, API or form (RATE_LIMIT_VOTES)
)

// String is the kind's name in metrics and logs.
func (k Kind) String() string {
	if k == NewVoters {
		return "new_voters"
	}
	return "votes"
}

// Decision is a limit's answer for one event.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until the event would be allowed, when it
	// is not.
	RetryAfter time.Duration
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1:
// the value of a Retry-After header.
func (d Decision) RetryAfterSeconds() int {
	s := int((d.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Limiter checks the limits of the vote servers of one stream.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
	limits [2]Limit
}

// New returns the limiter of stream's vote servers on rdb. Its Redis keys
// are redis_rate's "rate:" followed by "<stream>:rl:<kind>:<address>", so
// installations and tests sharing a Redis keep their own counts.
func New(rdb redis.UniversalClient, stream string, newVoters, votes Limit) *Limiter {
	return &Limiter{
		rl:     redis_rate.NewLimiter(rdb),
		prefix: stream + ":rl:",
		limits: [2]Limit{NewVoters: newVoters, Votes: votes},
	}
}

// Off reports whether the limit of kind is off.
func (l *Limiter) Off(kind Kind) bool { return l.limits[kind].Off() }

// Allow counts one event of kind from the client address key (see
// clientaddr.Key) and tells whether it is within the limit. An error means
// Redis did not answer (or refused, when full); nothing is decided then.
func (l *Limiter) Allow(ctx context.Context, kind Kind, key string) (Decision, error) {
	lim := l.limits[kind]
	if lim.Off() {
		return Decision{Allowed: true}, nil
	}
	res, err := l.rl.Allow(ctx, l.prefix+kind.String()+":"+key, redis_rate.Limit{Rate: lim.N, Burst: lim.N, Period: lim.Per})
	if err != nil {
		return Decision{}, fmt.Errorf("checking the %s limit: %w", kind, err)
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: res.RetryAfter}, nil
}
