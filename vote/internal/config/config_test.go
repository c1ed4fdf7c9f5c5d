package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Stream != "votes" || c.CreateToken != "" || c.LogLevel != "info" {
		t.Errorf("got %+v, want :8080, votes, no create token, info", c)
	}
	if c.ResultURL != nil {
		t.Errorf("got RESULT_URL %v, want nil (the page's host, port 8081)", c.ResultURL)
	}
	if c.WaitReplicas != 0 {
		t.Errorf("got REDIS_WAIT_REPLICAS %d, want 0 (no WAIT: the default Redis has no replica)", c.WaitReplicas)
	}
	if c.Redis == nil || c.Redis.Addr != "127.0.0.1:6379" || c.RedisCluster != nil {
		t.Errorf("got Redis %+v cluster %+v, want 127.0.0.1:6379 and no cluster", c.Redis, c.RedisCluster)
	}
	p := c.DefaultPoll()
	if p.Question != "Cats vs Dogs!" || len(p.Options) != 2 || p.Options[0].Label != "Cats" || p.Options[1].Label != "Dogs" {
		t.Errorf("default poll %+v, want Cats vs Dogs!", p)
	}
}

func TestLoadSettings(t *testing.T) {
	c, err := Load(env(map[string]string{
		"RESULT_URL": "https://example.org/poll/?x=1", "POLL_CREATE_TOKEN": " s3cret ",
		"OPTION_A": "Tea", "OPTION_B": "Coffee", "VOTE_STREAM": "v2", "REDIS_WAIT_REPLICAS": "2",
		"VOTE_STREAM_SHARDS": "4",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ResultURL.String(), "https://example.org/poll"; got != want {
		t.Errorf("ResultURL = %q, want %q", got, want)
	}
	if c.CreateToken != "s3cret" || c.Stream != "v2" {
		t.Errorf("got token %q stream %q, want s3cret and v2", c.CreateToken, c.Stream)
	}
	if c.Shards.N() != 4 || c.Shards.Key(3) != "v2:{3}" {
		t.Errorf("got %d shards, the last %q; want 4, v2:{3}", c.Shards.N(), c.Shards.Key(3))
	}
	if c.WaitReplicas != 2 {
		t.Errorf("got REDIS_WAIT_REPLICAS %d, want 2", c.WaitReplicas)
	}
	if got := c.DefaultPoll().Question; got != "Tea vs Coffee!" {
		t.Errorf("question %q, want Tea vs Coffee!", got)
	}
}

func TestLoadClusterURL(t *testing.T) {
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisCluster == nil || len(c.RedisCluster.Addrs) != 3 || c.Redis != nil {
		t.Fatalf("got cluster %+v, single %+v; want a cluster of 3", c.RedisCluster, c.Redis)
	}
	rdb := c.NewRedis()
	defer rdb.Close()
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ key, value string }{
		{"REDIS_URL", "127.0.0.1:6379"},
		{"VOTE_ADDR", "localhost"},
		{"RESULT_URL", "ftp://x"},
		{"OPTION_A", strings.Repeat("C", 65)},
		{"VOTE_STREAM", "a b"},
		{"RATE_LIMIT_NEW_VOTERS", "100"},
		{"RATE_LIMIT_NEW_VOTERS", "0/m"},
		{"RATE_LIMIT_VOTES", "10/h"},
		{"RATE_LIMIT_VOTES", "unlimited"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"},
		{"TRUSTED_PROXIES", "10.0.0.0/40"},
		{"VOTER_SECRET", "short"},
		{"REDIS_WAIT_REPLICAS", "-1"},
		{"REDIS_WAIT_REPLICAS", "17"},
		{"REDIS_WAIT_REPLICAS", "one"},
		{"VOTE_STREAM_SHARDS", "0"},
		{"VOTE_STREAM_SHARDS", "1025"},
		{"VOTE_STREAM_SHARDS", "four"},
		{"VOTE_STREAM", "vo{tes}"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("got error %v, want one naming %s", err, tt.key)
			}
		})
	}
}

func TestLoadLimitsAndSecret(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.NewVoterLimit.String() != DefaultNewVoterLimit || c.VoteLimit.String() != DefaultVoteLimit || c.TrustedProxies.Len() != 0 || c.VoterSecret != "" {
		t.Errorf("got limits %s and %s, %d trusted proxies, secret set %v; want %s, %s, none, unset",
			c.NewVoterLimit, c.VoteLimit, c.TrustedProxies.Len(), c.VoterSecret != "", DefaultNewVoterLimit, DefaultVoteLimit)
	}
	secret := strings.Repeat("k", 32)
	c, err = Load(env(map[string]string{
		"RATE_LIMIT_NEW_VOTERS": "off", "RATE_LIMIT_VOTES": "5/s",
		"TRUSTED_PROXIES": "10.0.0.0/8, ::1", "VOTER_SECRET": secret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.NewVoterLimit.Off() || c.VoteLimit.String() != "5/s" || c.TrustedProxies.Len() != 2 || c.VoterSecret != secret {
		t.Errorf("got limits %s and %s, %d trusted proxies; want off, 5/s, 2 and the secret", c.NewVoterLimit, c.VoteLimit, c.TrustedProxies.Len())
	}
}

// TestVoterSecretNotInError: a secret too short is refused without
// showing it.
func TestVoterSecretNotInError(t *testing.T) {
	_, err := Load(env(map[string]string{"VOTER_SECRET": "hunter2-but-short"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("got %v, want an error saying at least 32 without the value", err)
	}
}
