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
	if c.ClaimIdle != 5*time.Second || c.BatchSize != 1000 {
		t.Errorf("got claim idle %v batch %d, want 5s and 1000", c.ClaimIdle, c.BatchSize)
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
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}
