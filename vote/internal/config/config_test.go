package config

import (
	"strings"
	"testing"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Stream != "votes" || c.Labels["a"] != "Cats" || c.Labels["b"] != "Dogs" {
		t.Errorf("got %+v, want :8080, votes, Cats, Dogs", c)
	}
	if got, want := c.TallySocketURL(), "ws://localhost:8081/ws"; got != want {
		t.Errorf("TallySocketURL() = %q, want %q", got, want)
	}
}

func TestTallySocketURL(t *testing.T) {
	tests := []struct{ result, want string }{
		{"https://results.example.org", "wss://results.example.org/ws"},
		{"http://127.0.0.1:9001/", "ws://127.0.0.1:9001/ws"},
		{"https://example.org/poll/", "wss://example.org/poll/ws"},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			c, err := Load(func(k string) string {
				if k == "RESULT_URL" {
					return tt.result
				}
				return ""
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.TallySocketURL(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ key, value string }{
		{"REDIS_URL", "127.0.0.1:6379"},
		{"VOTE_ADDR", "localhost"},
		{"RESULT_URL", "ftp://x"},
		{"OPTION_A", strings.Repeat("C", 65)},
		{"VOTE_STREAM", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := Load(func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("got error %v, want one naming %s", err, tt.key)
			}
		})
	}
}
