package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"redis", c.Redis.Addr, "127.0.0.1:6379"},
		{"postgres host", c.Postgres.ConnConfig.Host, "127.0.0.1"},
		{"postgres database", c.Postgres.ConnConfig.Database, "postgres"},
		{"nats", c.NATSURL, "nats://127.0.0.1:4222"},
		{"addr", c.Addr, ":8082"},
		{"stream", c.Stream, "votes"},
		{"subject", c.Subject, "tally.changed"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.ClaimIdle != 5*time.Second || c.BatchSize != 4000 {
		t.Errorf("got claim idle %v batch %d, want 5s and 4000", c.ClaimIdle, c.BatchSize)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ key, value string }{
		{"REDIS_URL", "http://127.0.0.1:6379"},
		{"REDIS_URL", "redis://127.0.0.1:6379/notadb"},
		{"DATABASE_URL", "mysql://127.0.0.1/x"},
		{"NATS_URL", "nats//127.0.0.1"},
		{"WORKER_ADDR", "8082"},
		{"VOTE_STREAM", "my votes"},
		{"WORKER_BATCH", "0"},
		{"WORKER_CLAIM_IDLE", "-1s"},
		{"NATS_URL", "nats://127.0.0.1:4222,nats//x"},
		{"REDIS_URL", "redis://h1:1?addr=h2:2&bogus=1"},
		{"VOTE_STREAM_SHARDS", "0"},
		{"VOTE_STREAM_SHARDS", "many"},
		{"VOTE_STREAM", "{votes}"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := Load(func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			})
			if err == nil {
				t.Fatalf("got no error, want one naming %s", tt.key)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func TestLoadRedisClusterAndNATSServers(t *testing.T) {
	env := map[string]string{
		"REDIS_URL":          "redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002",
		"NATS_URL":           "nats://127.0.0.1:4222, nats://127.0.0.1:4223",
		"VOTE_STREAM_SHARDS": "6",
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis != nil || c.RedisCluster == nil || len(c.RedisCluster.Addrs) != 3 {
		t.Errorf("got single %v cluster %+v, want a cluster of 3 seeds", c.Redis, c.RedisCluster)
	}
	if c.Shards.N() != 6 || c.Shards.Key(0) != "votes:{0}" {
		t.Errorf("got %d shards, the first %q; want 6, votes:{0}", c.Shards.N(), c.Shards.Key(0))
	}
	if want := "nats://127.0.0.1:4222,nats://127.0.0.1:4223"; c.NATSURL != want {
		t.Errorf("got NATS_URL %q, want %q", c.NATSURL, want)
	}
	rdb := c.NewRedis()
	defer rdb.Close()
}

func TestLoadErrorsHidePasswords(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"REDIS_URL", "redis://:secret@127.0.0.1:6379/notadb"},
		{"DATABASE_URL", "postgres://u:secret@127.0.0.1:5432/x?sslmode=bogus"},
		{"NATS_URL", "nats://u:secret@127.0.0.1:99999"},
		{"REDIS_URL", "redis://:secret@[::1"},
		{"DATABASE_URL", "postgres://u@127.0.0.1:5432/x?password=secret&sslmode=bogus"},
	} {
		_, err := Load(func(k string) string {
			if k == tt.key {
				return tt.value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tt.key) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s=%s: got %v, want an error naming %s without the password", tt.key, tt.value, err, tt.key)
		}
	}
}

// TestLoadNATSCredentials: the credentials of NATS_URL (scripts/run.sh and
// compose give the worker its nats.conf user) reach the client unchanged,
// a percent-encoded password included.
func TestLoadNATSCredentials(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"user and password", "nats://worker:4f75eddb@127.0.0.1:4222", "nats://worker:4f75eddb@127.0.0.1:4222"},
		{"encoded password", "nats://worker:p%40ss%3Aw%20rd@nats:4222", "nats://worker:p%40ss%3Aw%20rd@nats:4222"},
		{"cluster", "nats://worker:pw@10.0.0.1:4222, nats://worker:pw@10.0.0.2:4222",
			"nats://worker:pw@10.0.0.1:4222,nats://worker:pw@10.0.0.2:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string {
				if k == "NATS_URL" {
					return tt.value
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.NATSURL != tt.want {
				t.Errorf("got NATS_URL %q, want %q", c.NATSURL, tt.want)
			}
		})
	}
}
