package config

import (
	"livevote/shared/config/configtest"
	"net"
	"strconv"
	"strings"
	"testing"

	"livevote/shared/fiberops"
)

// FuzzLoad feeds environments to Load: it never panics; an error is one
// line naming a variable that was set; an accepted config is valid.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		configtest.Join("DATABASE_URL=postgres://result:pw@127.0.0.1:5432/postgres?sslmode=disable", "NATS_URL=nats://result:pw@127.0.0.1:4222",
			"RESULT_ADDR=:8081", "TALLY_SUBJECT=tally.changed", "OPTION_A=Tea", "OPTION_B=Coffee", "VOTE_URL=https://vote.example.com/x/",
			"WS_ORIGINS=https://vote.example.com,http://localhost:8080", "PRESENT_FRAME_ANCESTORS=https://docs.google.com",
			"WS_MAX_CLIENTS=50000", "WS_MAX_CLIENTS_PER_ADDRESS=2000", "LOG_LEVEL=warn"),
		configtest.Join("DATABASE_URL=postgres://u:pw@h:5432/db?sslmode=bogus"),
		configtest.Join("DATABASE_URL=mysql://127.0.0.1/x"),
		configtest.Join("NATS_URL=nats://a:4222,nats//b"), configtest.Join("NATS_URL=,"),
		configtest.Join("RESULT_ADDR=8081"), configtest.Join("RESULT_ADDR=:-1"),
		configtest.Join("TALLY_SUBJECT=tally changed"),
		configtest.Join("OPTION_A=" + strings.Repeat("ñ", 65)), configtest.Join("OPTION_B=\xff"), configtest.Join("OPTION_A=   "),
		configtest.Join("VOTE_URL=ftp://x"), configtest.Join("VOTE_URL=http://"), configtest.Join("VOTE_URL=http://h:0"), configtest.Join("VOTE_URL=https://h?q=1#f"),
		configtest.Join("WS_ORIGINS=null"), configtest.Join("WS_ORIGINS=https://a.example,"), configtest.Join("WS_ORIGINS=https://u:pw@a.example"),
		configtest.Join("WS_ORIGINS=http://a.example/path"), configtest.Join("WS_ORIGINS=*"), configtest.Join("PRESENT_FRAME_ANCESTORS='none'"),
		configtest.Join("PRESENT_FRAME_ANCESTORS=https://a.example; script-src *"),
		configtest.Join("WS_MAX_CLIENTS=0"), configtest.Join("WS_MAX_CLIENTS=1000001"), configtest.Join("WS_MAX_CLIENTS_PER_ADDRESS=x"),
		configtest.Join("RESULT_ADDR=:80\n80"),
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
		if c.Subject == "" || strings.ContainsFunc(c.Subject, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("Load(%q): subject %q", s, c.Subject)
		}
		if len(c.DefaultPoll.Options) != 2 {
			t.Fatalf("Load(%q): default poll %+v", s, c.DefaultPoll)
		}
		for _, o := range c.DefaultPoll.Options {
			if n := len([]rune(o.Label)); n < 1 || n > 64 {
				t.Fatalf("Load(%q): label %q", s, o.Label)
			}
		}
		if u := c.VoteURL; u != nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
			t.Fatalf("Load(%q): VOTE_URL %q", s, u)
		}
		for _, o := range c.WSOrigins {
			if again, err := fiberops.ParseOrigin(o.String()); err != nil || again != o {
				t.Fatalf("Load(%q): WebSocket origin %+v", s, o)
			}
		}
		for _, o := range c.PresentFrameAncestors {
			// Each becomes a source of the presenter view's CSP: one
			// origin, nothing that could end the directive.
			if p, err := fiberops.ParseOrigin(o); err != nil || p.String() != o || strings.ContainsAny(o, " ;,'") {
				t.Fatalf("Load(%q): frame ancestor %q", s, o)
			}
		}
		if c.WSMaxClients < 1 || c.WSMaxClients > 1_000_000 || c.WSMaxClientsPerAddress < 1 || c.WSMaxClientsPerAddress > 1_000_000 {
			t.Fatalf("Load(%q): caps %d, %d", s, c.WSMaxClients, c.WSMaxClientsPerAddress)
		}
	})
}

// FuzzLoadRedaction puts a password in the user information, or in a
// password parameter, of DATABASE_URL, NATS_URL, VOTE_URL, WS_ORIGINS or PRESENT_FRAME_ANCESTORS,
// the rest of the URL fuzzed, and checks that Load's error never shows it,
// whatever pgx's parser says.
func FuzzLoadRedaction(f *testing.F) {
	f.Add(byte(0), "postgres", "result", "127.0.0.1:5432/postgres?sslmode=bogus")
	f.Add(byte(0), "postgres", "result", "127.0.0.1:5432/postgres?connect_timeout=x")
	f.Add(byte(0), "postgresql", "result", "h:5432/db?password=other&sslmode=verify-full&sslrootcert=/nonexistent")
	f.Add(byte(0), "postgres", "u%zz", "h/db")
	f.Add(byte(1), "nats", "result", "127.0.0.1:99999")
	f.Add(byte(1), "nats", "result", "a:4222,nats//c")
	f.Add(byte(2), "https", "u", "vote.example.com:0")
	f.Add(byte(3), "https", "u", "vote.example.com")
	f.Add(byte(3), "https", "u", "vote.example.com/path,https://other")
	f.Add(byte(4), "https", "u", "slides.example.com:99999")
	f.Add(byte(0x80), "postgres", "result", "127.0.0.1:5432/postgres?sslmode=bogus")
	f.Add(byte(0x80), "postgres", "", "h:5432/db?connect_timeout=x")
	f.Add(byte(0x82), "https", "", "vote.example.com:0")
	keys := []string{"DATABASE_URL", "NATS_URL", "VOTE_URL", "WS_ORIGINS", "PRESENT_FRAME_ANCESTORS"}
	f.Fuzz(func(t *testing.T, which byte, scheme, user, rest string) {
		configtest.CheckRedaction(t, which, scheme, user, rest, keys, func(getenv func(string) string) error {
			_, err := Load(getenv)
			return err
		})
	})
}
