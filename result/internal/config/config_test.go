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
		{"bad database url", "DATABASE_URL", "postgres://127.0.0.1:5432/x?sslmode=sometimes", false},
		{"bad nats url", "NATS_URL", "127.0.0.1:4222", false},
		{"bad addr", "RESULT_ADDR", "8081", false},
		{"bad subject", "TALLY_SUBJECT", "tally changed", false},
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
				return
			}
			if tt.name == "defaults" && (c.Addr != ":8081" || c.Subject != "tally.changed" || c.Labels["b"] != "Dogs") {
				t.Errorf("got %+v, want :8081, tally.changed, Dogs", c)
			}
			if tt.name == "labels" && c.Labels["a"] != "Tea" {
				t.Errorf("got label %q, want Tea", c.Labels["a"])
			}
		})
	}
}
