package relay

import "github.com/redis/go-redis/v9"

// skipFull lets the poll copy go unwritten while Redis refuses writes
// because it reached maxmemory (noeviction): the copy is a cache that the
// next batch's tallies (or the next start) write again, while only
// acknowledging entries (XACK, XDEL, which Redis still takes) frees the
// memory the vote servers need. Retrying the copy instead would hold every
// entry, and so every vote server's 503, for good. Any other error is
// returned as it is.
func (r *Relay) skipFull(what string, err error) error {
	if !redis.IsOOMError(err) {
		if err == nil {
			r.full = false
		}
		return err
	}
	r.metrics.RedisErrors.Inc()
	if !r.full {
		r.logger.Warn(what+" skipped: Redis is full (maxmemory); acknowledging entries to free memory", "error", err)
		r.full = true
	}
	return nil
}
