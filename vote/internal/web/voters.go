package web

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/ballot"
	"livevote/shared/clientaddr"
	"livevote/shared/fiberops"
	"livevote/vote/internal/ratelimit"
)

// Voters holds the key that signs voter ids (voterkey.Keeper).
type Voters interface {
	// Current is the signer, nil while the key is not known; it never
	// waits for Redis.
	Current() *ballot.VoterSigner
	// Signer is the signer, asking Redis for the key when it is not
	// known yet; an error when Redis does not answer.
	Signer(ctx context.Context) (*ballot.VoterSigner, error)
}

// Limiter is the rate limits per client address (ratelimit.Limiter).
type Limiter interface {
	Off(kind ratelimit.Kind) bool
	Allow(ctx context.Context, kind ratelimit.Kind, key string) (ratelimit.Decision, error)
}

const voterCookie = "voter_id"

// knownVoter returns the voter id of c's cookie when s issued it (this
// installation's key); "" for none, a made-up, altered or foreign one.
func knownVoter(c *fiber.Ctx, s *ballot.VoterSigner) string {
	if id := c.Cookies(voterCookie); s.Check(id) {
		return id
	}
	return ""
}

// offerVoterID gives a page's reader a voter id when they have none this
// installation issued, within the new-voter limit of their address. Over
// it, or while Redis does not answer, the page is served without one: a
// vote from it then asks for a new voter id again.
func (d *deps) offerVoterID(c *fiber.Ctx) {
	s := d.voters.Current()
	if s == nil || knownVoter(c, s) != "" {
		return
	}
	// Only a page a person opens gets an id: an image or a script of
	// another site pointing here (<img src="https://vote.example/">)
	// would otherwise spend the new-voter budget of everyone behind the
	// visitor's address. Browsers say what a request is for.
	if dest := c.Get("Sec-Fetch-Dest"); dest != "" && dest != "document" {
		return
	}
	ctx, cancel := redisContext(c)
	defer cancel()
	dec, err := d.limits.Allow(ctx, ratelimit.NewVoters, d.clientKey(c))
	if err != nil {
		d.logger.Debug("no voter id offered: the limit was not checked", "error", err)
		return
	}
	if !dec.Allowed {
		d.metrics.limited.WithLabelValues(ratelimit.NewVoters.String()).Inc()
		return
	}
	setCookie(c, voterCookie, s.Issue(), "/")
}

// limited is the refusal of an event over a rate limit, or nil.
type limited struct {
	kind       ratelimit.Kind
	retryAfter int // seconds, at least 1
}

// allow counts one event of kind from c's client address. It answers nil
// when the event may go on, a *limited when it is over the limit, or the
// error of a Redis that did not answer.
func (d *deps) allow(ctx context.Context, c *fiber.Ctx, kind ratelimit.Kind) (*limited, error) {
	if d.limits.Off(kind) {
		return nil, nil
	}
	dec, err := d.limits.Allow(ctx, kind, d.clientKey(c))
	if err != nil {
		return nil, err
	}
	if dec.Allowed {
		return nil, nil
	}
	d.metrics.limited.WithLabelValues(kind.String()).Inc()
	l := &limited{kind: kind, retryAfter: dec.RetryAfterSeconds()}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(l.retryAfter))
	return l, nil
}

// clientKey names c's client for the rate limits: the connection's peer,
// or behind a trusted proxy the address it forwards (TRUSTED_PROXIES);
// IPv6 by its /64.
func (d *deps) clientKey(c *fiber.Ctx) string {
	return clientaddr.Key(fiberops.ClientAddr(c, d.cfg.TrustedProxies))
}
