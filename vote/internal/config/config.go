// Package config loads the vote server's settings from the environment.
package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/clientaddr"
	shared "livevote/shared/config"
	"livevote/shared/poll"
	"livevote/vote/internal/ratelimit"
)

// Config is the vote server's settings.
type Config struct {
	// Redis is set for a single Redis, RedisCluster for a cluster (a
	// REDIS_URL with more than one address); the other is nil.
	Redis        *redis.Options
	RedisCluster *redis.ClusterOptions
	Addr         string
	Stream       string
	// Shards are the stream keys the votes are spread over
	// (VOTE_STREAM_SHARDS, with Stream as their prefix).
	Shards ballot.Shards
	// WaitReplicas is how many Redis replicas must hold a write before it
	// is acknowledged (REDIS_WAIT_REPLICAS); 0 sends no WAIT.
	WaitReplicas int
	// Labels maps each option id of the default poll to what people see.
	Labels map[string]string
	// ResultURL is where browsers reach the result server; nil means the
	// host the page was opened at, port 8081.
	ResultURL *url.URL
	// CreateToken, when set, is the Bearer token creating a poll needs.
	CreateToken string
	// VoterSecret, when set, is the key that signs voter ids; unset, the
	// vote servers on one Redis share a key they keep there.
	VoterSecret string
	// NewVoterLimit and VoteLimit are the rate limits per client address.
	NewVoterLimit, VoteLimit ratelimit.Limit
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies clientaddr.Trusted
	LogLevel       string
}

// The default rate limits per client address. A room of 1,000 people
// behind one address (one NAT) opens the page (a new voter each), votes
// and may change the vote once: 1,000 new voters and 2,000 votes within a
// minute, inside each limit's burst with half of it to spare. More from one
// address waits (429 with Retry-After) at 25 new voters and 50 votes a
// second.
const (
	DefaultNewVoterLimit = "1500/m"
	DefaultVoteLimit     = "3000/m"
)

// MaxWaitReplicas bounds REDIS_WAIT_REPLICAS: more replicas of one
// primary than that is a typo, not a deployment.
const MaxWaitReplicas = 16

// WaitTimeout is how long a write waits for REDIS_WAIT_REPLICAS replicas
// before the vote server answers 503. A replica on the same network
// acknowledges in about a millisecond, so one second is a replica that is
// down or far behind; it is below the Redis client's read timeout (2 s),
// so WAIT's own answer is read, and below the 3 s a request waits for
// Redis. Not a variable: the contract names none, and no deployment needs
// another.
const WaitTimeout = time.Second

// MinVoterSecret is the shortest VOTER_SECRET taken, in bytes.
const MinVoterSecret = ballot.MinVoterKeyLen

// ResultPort is the result server's port when RESULT_URL is unset.
const ResultPort = "8081"

// Load reads the vote server's variables, applying defaults.
func Load(getenv shared.Getenv) (Config, error) {
	var c Config
	redisURL, err := shared.URL(getenv, "REDIS_URL", shared.DefaultRedisURL, "redis", "rediss", "unix")
	if err != nil {
		return c, err
	}
	if redisURL.Query().Has("addr") {
		if c.RedisCluster, err = redis.ParseClusterURL(redisURL.String()); err != nil {
			return c, fmt.Errorf("REDIS_URL: %s: %w", shared.Redacted(redisURL), err)
		}
		setTimeouts(&c.RedisCluster.DialTimeout, &c.RedisCluster.ReadTimeout, &c.RedisCluster.WriteTimeout)
		c.RedisCluster.MaxRetries = 1
		c.RedisCluster.ClusterStateReloadInterval = shared.ClusterReload
	} else {
		if c.Redis, err = redis.ParseURL(redisURL.String()); err != nil {
			return c, fmt.Errorf("REDIS_URL: %s: %w", shared.Redacted(redisURL), err)
		}
		setTimeouts(&c.Redis.DialTimeout, &c.Redis.ReadTimeout, &c.Redis.WriteTimeout)
		c.Redis.MaxRetries = 1 // a connection broken by a Redis restart is retried once
		c.Redis.DialerRetries = 1
		c.Redis.DialerRetryTimeout = 10 * time.Millisecond
	}
	// 0 by default: the contract's single Redis has no replica, and 1
	// would refuse every vote there; docs/DESIGN.md, "Waiting for replicas".
	if c.WaitReplicas, err = shared.Int(getenv, "REDIS_WAIT_REPLICAS", 0, 0, MaxWaitReplicas); err != nil {
		return c, err
	}
	if c.Addr, err = shared.Addr(getenv, "VOTE_ADDR", ":8080"); err != nil {
		return c, err
	}
	if c.Stream, err = shared.Name(getenv, "VOTE_STREAM", ballot.DefaultStream); err != nil {
		return c, err
	}
	if c.Shards, err = shared.Shards(getenv, c.Stream); err != nil {
		return c, err
	}
	if c.Labels, err = shared.Labels(getenv); err != nil {
		return c, err
	}
	if shared.String(getenv, "RESULT_URL", "") != "" {
		if c.ResultURL, err = shared.URL(getenv, "RESULT_URL", "", "http", "https"); err != nil {
			return c, err
		}
		c.ResultURL.Path = strings.TrimRight(c.ResultURL.Path, "/")
		c.ResultURL.RawQuery, c.ResultURL.Fragment = "", ""
	}
	c.CreateToken = shared.String(getenv, "POLL_CREATE_TOKEN", "")
	// The secret's value never goes into an error: only its length.
	c.VoterSecret = shared.String(getenv, "VOTER_SECRET", "")
	if c.VoterSecret != "" && len(c.VoterSecret) < MinVoterSecret {
		return c, fmt.Errorf("%w: VOTER_SECRET is %d bytes long; it must be at least %d (or unset, for a key the vote servers keep in Redis)",
			shared.ErrInvalid, len(c.VoterSecret), MinVoterSecret)
	}
	if c.NewVoterLimit, err = limit(getenv, "RATE_LIMIT_NEW_VOTERS", DefaultNewVoterLimit); err != nil {
		return c, err
	}
	if c.VoteLimit, err = limit(getenv, "RATE_LIMIT_VOTES", DefaultVoteLimit); err != nil {
		return c, err
	}
	proxies := shared.String(getenv, "TRUSTED_PROXIES", "")
	if c.TrustedProxies, err = clientaddr.ParseTrusted(proxies); err != nil {
		return c, fmt.Errorf("%w: TRUSTED_PROXIES=%q: %w", shared.ErrInvalid, proxies, err)
	}
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
}

func limit(getenv shared.Getenv, key, def string) (ratelimit.Limit, error) {
	v := shared.String(getenv, key, def)
	l, err := ratelimit.Parse(v)
	if err != nil {
		return l, fmt.Errorf("%w: %s=%q: want N/s, N/m (N from 1 to 1000000) or off", shared.ErrInvalid, key, v)
	}
	return l, nil
}

// setTimeouts makes a dead Redis cost a voter a quick 503, not a long wait.
func setTimeouts(dial, read, write *time.Duration) {
	*dial = time.Second
	*read = 2 * time.Second
	*write = 2 * time.Second
}

// NewRedis returns the client for REDIS_URL: a cluster client when it
// names several addresses, else a single one.
func (c Config) NewRedis() redis.UniversalClient {
	if c.RedisCluster != nil {
		return redis.NewClusterClient(c.RedisCluster)
	}
	return redis.NewClient(c.Redis)
}

// DefaultPoll is the poll of version 1's routes, labelled by OPTION_A and
// OPTION_B.
func (c Config) DefaultPoll() poll.Poll {
	return poll.Default(c.Labels[poll.OptionID(0)], c.Labels[poll.OptionID(1)])
}
