// Package config loads the worker's settings from the environment.
package config

import (
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	shared "livevote/shared/config"
	"livevote/shared/tally"
)

// Config is the worker's settings.
type Config struct {
	// Redis is a single Redis server's settings, or nil when RedisCluster
	// names a cluster.
	Redis        *redis.Options
	RedisCluster *redis.ClusterOptions
	Postgres     *pgxpool.Config
	// NATSURL is one NATS server or several of a cluster, comma-separated.
	NATSURL string
	// Addr serves /healthz, /readyz and /metrics.
	Addr   string
	Stream string
	// Shards are the stream keys the votes are spread over
	// (VOTE_STREAM_SHARDS, with Stream as their prefix).
	Shards   ballot.Shards
	Subject  string
	Group    string
	LogLevel string
	// BatchSize is the most stream entries read and written at once. A
	// batch costs about the same for 1,000 entries as for 4,000 when they
	// are spread over many polls (each poll touched is locked, versioned,
	// read back, copied and published once per batch), so a backlog over
	// many polls drains about twice as fast with 4,000 as with 1,000.
	BatchSize int
	// ClaimIdle is how long an entry stays pending with a consumer before
	// another worker takes it over as abandoned.
	ClaimIdle time.Duration
}

// Load reads the worker's variables, applying defaults.
func Load(getenv shared.Getenv) (Config, error) {
	var c Config
	var err error
	redisURL, err := shared.URL(getenv, "REDIS_URL", shared.DefaultRedisURL, "redis", "rediss", "unix")
	if err != nil {
		return c, err
	}
	// The contract's cluster form: more than one address means a cluster.
	if redisURL.Query().Has("addr") {
		if c.RedisCluster, err = redis.ParseClusterURL(redisURL.String()); err != nil {
			return c, fmt.Errorf("REDIS_URL: %s: %w", shared.Redacted(redisURL), err)
		}
		c.RedisCluster.ClusterStateReloadInterval = shared.ClusterReload
	} else if c.Redis, err = redis.ParseURL(redisURL.String()); err != nil {
		return c, fmt.Errorf("REDIS_URL: %s: %w", shared.Redacted(redisURL), err)
	}
	dbURL, err := shared.URL(getenv, "DATABASE_URL", shared.DefaultDatabaseURL, "postgres", "postgresql")
	if err != nil {
		return c, err
	}
	if c.Postgres, err = pgxpool.ParseConfig(dbURL.String()); err != nil {
		return c, fmt.Errorf("DATABASE_URL: %s: %w", shared.Redacted(dbURL), err)
	}
	if c.NATSURL, err = shared.URLList(getenv, "NATS_URL", shared.DefaultNATSURL, "nats", "tls"); err != nil {
		return c, err
	}
	if c.Addr, err = shared.Addr(getenv, "WORKER_ADDR", ":8082"); err != nil {
		return c, err
	}
	if c.Stream, err = shared.Name(getenv, "VOTE_STREAM", ballot.DefaultStream); err != nil {
		return c, err
	}
	if c.Shards, err = shared.Shards(getenv, c.Stream); err != nil {
		return c, err
	}
	if c.Subject, err = shared.Name(getenv, "TALLY_SUBJECT", tally.DefaultSubject); err != nil {
		return c, err
	}
	if c.Group, err = shared.Name(getenv, "WORKER_GROUP", "workers"); err != nil {
		return c, err
	}
	if c.BatchSize, err = shared.Int(getenv, "WORKER_BATCH", 4000, 1, 100000); err != nil {
		return c, err
	}
	if c.ClaimIdle, err = shared.Duration(getenv, "WORKER_CLAIM_IDLE", 5*time.Second); err != nil {
		return c, err
	}
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
}

// NewRedis returns a client of the configured Redis server or cluster.
// Its pool (per node of a cluster) has room for a blocked read of every
// shard beside go-redis's default of 10 per CPU: each relay's read holds
// a connection for up to a second.
func (c Config) NewRedis() redis.UniversalClient {
	pool := 10*runtime.GOMAXPROCS(0) + 2*c.Shards.N() + 4
	if c.RedisCluster != nil {
		o := *c.RedisCluster
		o.PoolSize = max(o.PoolSize, pool)
		return redis.NewClusterClient(&o)
	}
	o := *c.Redis
	o.PoolSize = max(o.PoolSize, pool)
	return redis.NewClient(&o)
}
