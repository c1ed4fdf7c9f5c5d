// Package testredis gives the vote server's integration tests a Redis
// client (TEST_REDIS_URL) and a key prefix of their own: every key that
// holds the prefix is deleted when the test ends.
package testredis

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Client returns a client of the test Redis and a fresh name to use as the
// stream key (or the start of other keys). Keys containing it anywhere are
// deleted at the end, so prefixes other packages add (redis_rate's
// "rate:") are cleaned up too.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL (%s) is unreachable: %v; start it with `make services` or set TEST_REDIS_URL", opts.Addr, err)
	}
	name := "test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, "*"+name+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, name
}
