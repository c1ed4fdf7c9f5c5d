// Package config loads the vote server's settings from the environment.
package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	shared "livevote/shared/config"
)

// Config is the vote server's settings.
type Config struct {
	Redis  *redis.Options
	Addr   string
	Stream string
	// Labels maps each option id to what people see.
	Labels map[string]string
	// ResultURL is where browsers reach the result server.
	ResultURL *url.URL
	LogLevel  string
}

// Load reads the vote server's variables, applying defaults.
func Load(getenv shared.Getenv) (Config, error) {
	var c Config
	redisURL, err := shared.URL(getenv, "REDIS_URL", shared.DefaultRedisURL, "redis", "rediss", "unix")
	if err != nil {
		return c, err
	}
	if c.Redis, err = redis.ParseURL(redisURL.String()); err != nil {
		return c, fmt.Errorf("REDIS_URL: %w", err)
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
	if c.ResultURL, err = shared.URL(getenv, "RESULT_URL", "http://localhost:8081", "http", "https"); err != nil {
		return c, err
	}
	c.ResultURL.Path = strings.TrimRight(c.ResultURL.Path, "/")
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
}

// TallySocketURL is the result server's WebSocket, as browsers reach it.
func (c Config) TallySocketURL() string {
	u := *c.ResultURL
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws"
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
