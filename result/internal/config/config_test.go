package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name, key, value string
		ok               bool
	}{
		{"defaults", "", "", true},
		{"labels", "OPTION_A", "Tea", true},
		{"vote url", "VOTE_URL", "https://vote.example.org/", true},
		{"nats cluster", "NATS_URL", "nats://u:p@10.0.0.1:4222, nats://10.0.0.2:4222", true},
		{"nats user with encoded password", "NATS_URL", "nats://result:p%40ss%3Aw@127.0.0.1:4222", true},
		{"bad database url", "DATABASE_URL", "postgres://127.0.0.1:5432/x?sslmode=sometimes", false},
		{"bad database url with password", "DATABASE_URL", "postgres://u:s3cret@127.0.0.1:5432/x?sslmode=sometimes", false},
		{"database port with password", "DATABASE_URL", "postgres://u:s3cret@127.0.0.1:99999/x", false},
		{"bad database url with a password parameter", "DATABASE_URL", "postgres://u@127.0.0.1:5432/x?password=s3cret&sslmode=sometimes", false},
		{"bad nats url", "NATS_URL", "127.0.0.1:4222", false},
		{"bad second nats url", "NATS_URL", "nats://127.0.0.1:4222,nats://u:s3cret@h:0", false},
		{"bad vote url", "VOTE_URL", "ftp://vote.example.org", false},
		{"bad addr", "RESULT_ADDR", "8081", false},
		{"bad subject", "TALLY_SUBJECT", "tally changed", false},
		{"ws origins", "WS_ORIGINS", "https://vote.example.org, http://localhost:8080", true},
		{"ws origin with a path", "WS_ORIGINS", "https://vote.example.org/p", false},
		{"ws origin without scheme", "WS_ORIGINS", "https://vote.example.org,localhost:8080", false},
		{"ws origin null", "WS_ORIGINS", "null", false},
		{"ws origin with password", "WS_ORIGINS", "https://u:s3cret@vote.example.org", false},
		{"ws origins empty item", "WS_ORIGINS", "https://vote.example.org,", false},
		{"frame ancestors", "PRESENT_FRAME_ANCESTORS", "https://slides.example.com:443,https://deck.example", true},
		{"bad frame ancestor", "PRESENT_FRAME_ANCESTORS", "*", false},
		{"ws max clients", "WS_MAX_CLIENTS", "10", true},
		{"ws max clients zero", "WS_MAX_CLIENTS", "0", false},
		{"ws max clients too many", "WS_MAX_CLIENTS", "1000001", false},
		{"ws max clients not a number", "WS_MAX_CLIENTS", "lots", false},
		{"ws max per address", "WS_MAX_CLIENTS_PER_ADDRESS", "3", true},
		{"ws max per address negative", "WS_MAX_CLIENTS_PER_ADDRESS", "-1", false},
		{"trusted proxies", "TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7, fd00::/8", true},
		{"bad trusted proxy", "TRUSTED_PROXIES", "10.0.0.0/8,proxy.example", false},
		{"path prefix", "RESULT_PATH_PREFIX", "/results", true},
		{"path prefix two segments", "RESULT_PATH_PREFIX", "/live/results-2/", true},
		{"path prefix root", "RESULT_PATH_PREFIX", "/", true},
		{"path prefix without slash", "RESULT_PATH_PREFIX", "results", false},
		{"path prefix dot dot", "RESULT_PATH_PREFIX", "/a/../b", false},
		{"path prefix empty segment", "RESULT_PATH_PREFIX", "/a//b", false},
		{"path prefix query", "RESULT_PATH_PREFIX", "/r?x=1", false},
		{"ws max per address too many", "WS_MAX_CLIENTS_PER_ADDRESS", "2000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			})
			if (err == nil) != tt.ok {
				t.Fatalf("got error %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.key) {
					t.Errorf("error %q does not name %s", err, tt.key)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			switch tt.name {
			case "defaults":
				if c.Addr != ":8081" || c.Subject != "tally.changed" || c.DefaultPoll.Question != "Cats vs Dogs!" || c.DefaultPoll.Label("b") != "Dogs" || c.VoteURL != nil || c.WSOrigins != nil || c.PresentFrameAncestors != nil || c.WSMaxClients != 50000 || c.WSMaxClientsPerAddress != 2000 {
					t.Errorf("got %+v, want :8081, tally.changed, Cats vs Dogs!, no VOTE_URL, WebSocket caps 50000 and 2000", c)
				}
			case "labels":
				if c.DefaultPoll.Label("a") != "Tea" || c.DefaultPoll.Question != "Tea vs Dogs!" {
					t.Errorf("got %+v, want Tea vs Dogs!", c.DefaultPoll)
				}
			case "vote url":
				if got := c.VoteURL.String(); got != "https://vote.example.org" {
					t.Errorf("got VOTE_URL %q, want https://vote.example.org", got)
				}
			case "ws origins":
				if len(c.WSOrigins) != 2 || c.WSOrigins[0].String() != "https://vote.example.org" || c.WSOrigins[1].String() != "http://localhost:8080" {
					t.Errorf("got WS_ORIGINS %+v, want the two origins", c.WSOrigins)
				}
			case "frame ancestors":
				if strings.Join(c.PresentFrameAncestors, " ") != "https://slides.example.com https://deck.example" {
					t.Errorf("got PRESENT_FRAME_ANCESTORS %q", c.PresentFrameAncestors)
				}
			case "ws max clients":
				if c.WSMaxClients != 10 || c.WSMaxClientsPerAddress != 2000 {
					t.Errorf("got caps %d and %d, want 10 and 2000", c.WSMaxClients, c.WSMaxClientsPerAddress)
				}
			case "ws max per address":
				if c.WSMaxClients != 50000 || c.WSMaxClientsPerAddress != 3 {
					t.Errorf("got caps %d and %d, want 50000 and 3", c.WSMaxClients, c.WSMaxClientsPerAddress)
				}
			case "nats cluster":
				if c.NATSURL != "nats://u:p@10.0.0.1:4222,nats://10.0.0.2:4222" {
					t.Errorf("got NATS_URL %q", c.NATSURL)
				}
			case "nats user with encoded password":
				if want := "nats://result:p%40ss%3Aw@127.0.0.1:4222"; c.NATSURL != want {
					t.Errorf("got NATS_URL %q, want %q", c.NATSURL, want)
				}
			}
		})
	}
}
