// Package config loads the vote server's settings from the environment.
package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	shared "livevote/shared/config"
	"livevote/shared/poll"
)

// Config is the vote server's settings.
type Config struct {
	// Redis is set for a single Redis, RedisCluster for a cluster (a
	// REDIS_URL with more than one address); the other is nil.
	Redis        *redis.Options
	RedisCluster *redis.ClusterOptions
	Addr         string
	Stream       string
	// Labels maps each option id of the default poll to what people see.
	Labels map[string]string
	// ResultURL is where browsers reach the result server; nil means the
	// host the page was opened at, port 8081.
	ResultURL *url.URL
	// CreateToken, when set, is the Bearer token creating a poll needs.
	CreateToken string
	LogLevel    string
}

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
			return c, fmt.Errorf("REDIS_URL: %s: %w", redisURL.Redacted(), err)
		}
		setTimeouts(&c.RedisCluster.DialTimeout, &c.RedisCluster.ReadTimeout, &c.RedisCluster.WriteTimeout)
		c.RedisCluster.MaxRetries = 1
	} else {
		if c.Redis, err = redis.ParseURL(redisURL.String()); err != nil {
			return c, fmt.Errorf("REDIS_URL: %s: %w", redisURL.Redacted(), err)
		}
		setTimeouts(&c.Redis.DialTimeout, &c.Redis.ReadTimeout, &c.Redis.WriteTimeout)
		c.Redis.MaxRetries = 1 // a connection broken by a Redis restart is retried once
		c.Redis.DialerRetries = 1
		c.Redis.DialerRetryTimeout = 10 * time.Millisecond
	}
	if c.Addr, err = shared.Addr(getenv, "VOTE_ADDR", ":8080"); err != nil {
		return c, err
	}
	if c.Stream, err = shared.Name(getenv, "VOTE_STREAM", ballot.DefaultStream); err != nil {
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
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
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
