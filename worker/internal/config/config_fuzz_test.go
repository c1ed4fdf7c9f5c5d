package config

import (
	"livevote/shared/config/configtest"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad feeds environments to Load: it never panics; an error is one
// line naming a variable that was set; an accepted config is valid.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		configtest.Join("REDIS_URL=redis://127.0.0.1:6379/0", "DATABASE_URL=postgres://worker:pw@127.0.0.1:5432/postgres?sslmode=disable",
			"NATS_URL=nats://worker:pw@127.0.0.1:4222", "WORKER_ADDR=:8082", "VOTE_STREAM=votes", "TALLY_SUBJECT=tally.changed",
			"WORKER_GROUP=workers", "WORKER_BATCH=4000", "WORKER_CLAIM_IDLE=5s", "LOG_LEVEL=debug"),
		configtest.Join("REDIS_URL=redis://h1:1?addr=h2:2&addr=h3:3"),
		configtest.Join("REDIS_URL=redis://h1:1?addr=h2:2&bogus=1"),
		configtest.Join("REDIS_URL=redis://127.0.0.1:6379/notadb"),
		configtest.Join("REDIS_URL=redis://127.0.0.1:6379/-1"),
		configtest.Join("REDIS_URL=unix:///tmp/redis.sock"),
		configtest.Join("REDIS_URL=rediss://:pw@h:6380/0?dial_timeout=-5s"),
		configtest.Join("REDIS_URL=redis://127.0.0.1:6379/0?max_retries=x"),
		configtest.Join("DATABASE_URL=postgres://u:pw@h:5432/db?sslmode=bogus"),
		configtest.Join("DATABASE_URL=postgres://u:pw@h:5432/db?pool_max_conns=-1"),
		configtest.Join("DATABASE_URL=postgres://u:pw@h:5432/db?connect_timeout=x"),
		configtest.Join("DATABASE_URL=postgresql://h/db?host=/tmp"),
		configtest.Join("DATABASE_URL=mysql://127.0.0.1/x"),
		configtest.Join("NATS_URL=nats://a:4222,nats://b:4222", "WORKER_ADDR=127.0.0.1:0"),
		configtest.Join("NATS_URL=nats://127.0.0.1:4222,nats//x"),
		configtest.Join("NATS_URL=,"),
		configtest.Join("WORKER_ADDR=8082"), configtest.Join("WORKER_ADDR=:65536"), configtest.Join("WORKER_ADDR=[::1]:8082"),
		configtest.Join("VOTE_STREAM=my votes"), configtest.Join("TALLY_SUBJECT=tally.\x7f"), configtest.Join("WORKER_GROUP=\xff"),
		configtest.Join("WORKER_BATCH=0"), configtest.Join("WORKER_BATCH=100001"), configtest.Join("WORKER_BATCH=1e3"), configtest.Join("WORKER_BATCH=99999999999999999999"),
		configtest.Join("WORKER_CLAIM_IDLE=-1s"), configtest.Join("WORKER_CLAIM_IDLE=0"), configtest.Join("WORKER_CLAIM_IDLE=2562048h"), configtest.Join("WORKER_CLAIM_IDLE=1ns"),
		configtest.Join("WORKER_ADDR=:80\n80"), configtest.Join("REDIS_URL=redis://h:6379/0\r\nX"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := configtest.Parse(s)
		c, err := Load(e.Getenv)
		if err != nil {
			msg := err.Error()
			if !e.Named(msg) {
				t.Fatalf("Load(%q): error %q names no variable that was set", s, msg)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("Load(%q): error %q is not one line", s, msg)
			}
			return
		}
		if (c.Redis == nil) == (c.RedisCluster == nil) {
			t.Fatalf("Load(%q): want one of Redis and RedisCluster, got %v and %v", s, c.Redis, c.RedisCluster)
		}
		if c.Redis != nil && c.Redis.Addr == "" || c.RedisCluster != nil && len(c.RedisCluster.Addrs) == 0 {
			t.Fatalf("Load(%q): Redis without an address", s)
		}
		if c.Postgres == nil || c.Postgres.ConnConfig.Host == "" {
			t.Fatalf("Load(%q): PostgreSQL without a host", s)
		}
		for _, u := range strings.Split(c.NATSURL, ",") {
			if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				t.Fatalf("Load(%q): NATS URL %q", s, u)
			}
		}
		_, port, err := net.SplitHostPort(c.Addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			t.Fatalf("Load(%q): address %q", s, c.Addr)
		}
		for _, name := range []string{c.Stream, c.Subject, c.Group} {
			if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				t.Fatalf("Load(%q): name %q", s, name)
			}
		}
		if c.BatchSize < 1 || c.BatchSize > 100000 || c.ClaimIdle <= 0 {
			t.Fatalf("Load(%q): batch %d, claim idle %v", s, c.BatchSize, c.ClaimIdle)
		}
	})
}

// FuzzLoadRedaction puts a password in the user information, or in a
// password parameter, of REDIS_URL, DATABASE_URL or NATS_URL, the rest of
// the URL fuzzed, and checks that Load's error never shows it, whatever the
// driver's parser says.
func FuzzLoadRedaction(f *testing.F) {
	f.Add(byte(0), "redis", "u", "127.0.0.1:6379/notadb")
	f.Add(byte(0), "redis", "", "127.0.0.1:6379/0?dial_timeout=soon")
	f.Add(byte(0), "redis", "", "h1:1?addr=h2:2&bogus=1")
	f.Add(byte(0), "redis", "", "h1:1?addr=h2:99999")
	f.Add(byte(0), "rediss", "u", "[::1:6379")
	f.Add(byte(1), "postgres", "worker", "127.0.0.1:5432/postgres?sslmode=bogus")
	f.Add(byte(1), "postgres", "worker", "127.0.0.1:5432/postgres?connect_timeout=x")
	f.Add(byte(1), "postgresql", "worker", "h:5432/db?password=other&sslmode=verify-full&sslrootcert=/nonexistent")
	f.Add(byte(1), "postgres", "u%zz", "h/db")
	f.Add(byte(2), "nats", "worker", "127.0.0.1:99999")
	f.Add(byte(2), "nats", "worker", "a:4222,nats://b:4222,nats//c")
	f.Add(byte(2), "http", "worker", "127.0.0.1:4222")
	f.Add(byte(0x81), "postgres", "worker", "127.0.0.1:5432/postgres?sslmode=bogus")
	f.Add(byte(0x81), "postgres", "worker", "127.0.0.1:5432/postgres")
	f.Add(byte(0x81), "postgres", "", "h:5432/db?connect_timeout=x")
	keys := []string{"REDIS_URL", "DATABASE_URL", "NATS_URL"}
	f.Fuzz(func(t *testing.T, which byte, scheme, user, rest string) {
		configtest.CheckRedaction(t, which, scheme, user, rest, keys, func(getenv func(string) string) error {
			_, err := Load(getenv)
			return err
		})
	})
}
