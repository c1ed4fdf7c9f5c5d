package config

import (
	"livevote/shared/config/configtest"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad feeds environments to Load: it never panics; an error is one
// line naming a variable that was set and showing neither VOTER_SECRET nor
// POLL_CREATE_TOKEN; an accepted config is valid.
func FuzzLoad(f *testing.F) {
	secret := strings.Repeat("k", MinVoterSecret)
	for _, s := range []string{
		"",
		configtest.Join("REDIS_URL=redis://:pw@127.0.0.1:6379/0", "VOTE_ADDR=:8080", "VOTE_STREAM=votes", "OPTION_A=Tea", "OPTION_B=Coffee",
			"RESULT_URL=https://results.example.com/x/?q=1#f", "POLL_CREATE_TOKEN=let-me-create", "VOTER_SECRET="+secret,
			"RATE_LIMIT_NEW_VOTERS=1500/m", "RATE_LIMIT_VOTES=off", "TRUSTED_PROXIES=10.0.0.0/8, ::1", "LOG_LEVEL=debug"),
		configtest.Join("REDIS_URL=redis://h1:1?addr=h2:2&addr=h3:3"), configtest.Join("REDIS_URL=redis://h1:1?addr=h2:2&bogus=1"),
		configtest.Join("REDIS_URL=redis://127.0.0.1:6379/notadb"), configtest.Join("REDIS_URL=http://127.0.0.1:6379"),
		configtest.Join("VOTE_ADDR=8080"), configtest.Join("VOTE_ADDR=:65536"), configtest.Join("VOTE_STREAM=my votes"),
		configtest.Join("OPTION_A=" + strings.Repeat("ñ", 65)), configtest.Join("RESULT_URL=ftp://x"), configtest.Join("RESULT_URL=http://h:0"),
		configtest.Join("VOTER_SECRET=short-secret-value"), configtest.Join("VOTER_SECRET=" + secret[:MinVoterSecret-1]),
		configtest.Join("VOTER_SECRET=   " + secret + "   "),
		configtest.Join("RATE_LIMIT_NEW_VOTERS=0/s"), configtest.Join("RATE_LIMIT_VOTES=5/h"), configtest.Join("RATE_LIMIT_VOTES=1000001/m"),
		configtest.Join("TRUSTED_PROXIES=10.0.0.300"), configtest.Join("TRUSTED_PROXIES=fe80::1%eth0"), configtest.Join("TRUSTED_PROXIES=a-very-secret-proxy"),
		configtest.Join("POLL_CREATE_TOKEN=create-token-123", "VOTE_ADDR=bad"),
		configtest.Join("VOTER_SECRET=voter-secret-value-that-is-long", "VOTE_STREAM=a b"),
		configtest.Join("VOTE_ADDR=:80\n80"),
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
			for _, k := range []string{"VOTER_SECRET", "POLL_CREATE_TOKEN"} {
				if v := strings.TrimSpace(e.Vars[k]); len(v) >= 8 && !e.Elsewhere(k, v) && strings.Contains(msg, v) {
					t.Fatalf("Load(%q): error %q shows %s", s, msg, k)
				}
			}
			return
		}
		if (c.Redis == nil) == (c.RedisCluster == nil) {
			t.Fatalf("Load(%q): want one of Redis and RedisCluster, got %v and %v", s, c.Redis, c.RedisCluster)
		}
		if c.Redis != nil && c.Redis.Addr == "" || c.RedisCluster != nil && len(c.RedisCluster.Addrs) == 0 {
			t.Fatalf("Load(%q): Redis without an address", s)
		}
		_, port, err := net.SplitHostPort(c.Addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			t.Fatalf("Load(%q): address %q", s, c.Addr)
		}
		if c.Stream == "" || strings.ContainsFunc(c.Stream, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("Load(%q): stream %q", s, c.Stream)
		}
		p := c.DefaultPoll()
		if len(p.Options) != 2 {
			t.Fatalf("Load(%q): default poll %+v", s, p)
		}
		for _, o := range p.Options {
			if n := len([]rune(o.Label)); n < 1 || n > 64 {
				t.Fatalf("Load(%q): label %q", s, o.Label)
			}
		}
		if u := c.ResultURL; u != nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/")) {
			t.Fatalf("Load(%q): RESULT_URL %q", s, u)
		}
		if c.VoterSecret != "" && len(c.VoterSecret) < MinVoterSecret {
			t.Fatalf("Load(%q): a voter secret of %d bytes", s, len(c.VoterSecret))
		}
		for _, l := range []struct {
			name string
			n    int
			per  string
		}{{"new voters", c.NewVoterLimit.N, c.NewVoterLimit.String()}, {"votes", c.VoteLimit.N, c.VoteLimit.String()}} {
			if l.n < 0 || l.n > 1_000_000 || l.n == 0 && l.per != "off" {
				t.Fatalf("Load(%q): %s limit %d (%s)", s, l.name, l.n, l.per)
			}
		}
	})
}

// FuzzLoadRedaction puts a password in the user information, or in a
// password parameter, of REDIS_URL or RESULT_URL, the rest of the URL
// fuzzed, and checks that Load's error never shows it, whatever go-redis's
// parser says.
func FuzzLoadRedaction(f *testing.F) {
	f.Add(byte(0), "redis", "u", "127.0.0.1:6379/notadb")
	f.Add(byte(0), "redis", "", "127.0.0.1:6379/0?dial_timeout=soon")
	f.Add(byte(0), "redis", "", "h1:1?addr=h2:2&bogus=1")
	f.Add(byte(0), "redis", "", "h1:1?addr=h2:99999")
	f.Add(byte(0), "rediss", "u", "[::1:6379")
	f.Add(byte(1), "https", "u", "results.example.com:0")
	f.Add(byte(1), "ftp", "u", "results.example.com")
	f.Add(byte(0x81), "https", "", "results.example.com:0")
	keys := []string{"REDIS_URL", "RESULT_URL"}
	f.Fuzz(func(t *testing.T, which byte, scheme, user, rest string) {
		configtest.CheckRedaction(t, which, scheme, user, rest, keys, func(getenv func(string) string) error {
			_, err := Load(getenv)
			return err
		})
	})
}
