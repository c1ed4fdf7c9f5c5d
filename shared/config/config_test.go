package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func TestAddr(t *testing.T) {
	tests := []struct {
		name, value, want string
		ok                bool
	}{
		{"default", "", ":8080", true},
		{"port only", ":9000", ":9000", true},
		{"loopback", "127.0.0.1:9000", "127.0.0.1:9000", true},
		{"ipv6", "[::1]:9000", "[::1]:9000", true},
		{"no port", "localhost", "", false},
		{"bad port", ":http", "", false},
		{"port too large", ":70000", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Addr(env(map[string]string{"ADDR": tt.value}), "ADDR", ":8080")
			if (err == nil) != tt.ok {
				t.Fatalf("Addr(%q) error = %v, want ok=%v", tt.value, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ADDR=") {
					t.Errorf("error %q does not wrap ErrInvalid and name the variable", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"default", "", true},
		{"with credentials", "nats://u:p@127.0.0.1:4222", true},
		{"wrong scheme", "http://127.0.0.1:4222", false},
		{"no host", "nats://", false},
		{"garbage", "::not a url", false},
		{"bad port", "nats://127.0.0.1:99999", false},
		{"bad port with password", "nats://u:s3cret@127.0.0.1:99999", false},
		{"wrong scheme with password", "http://u:s3cret@127.0.0.1:4222", false},
		{"garbage with password", "nats://u:s3cret@[::1:4222%zz", false},
		{"garbage with a password parameter", "nats://u@127.0.0.1:notaport?password=s3cret", false},
		{"wrong scheme with a password parameter", "http://u@127.0.0.1:4222?sslmode=x&password=s3cret", false},
		{"keyword/value string with a password", "host=127.0.0.1 user=u password=s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := URL(env(map[string]string{"NATS_URL": tt.value}), "NATS_URL", "nats://127.0.0.1:4222", "nats", "tls")
			if (err == nil) != tt.ok {
				t.Fatalf("URL(%q) error = %v, want ok=%v", tt.value, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestDurationAndInt(t *testing.T) {
	e := env(map[string]string{"D": "250ms", "BAD": "soon", "N": "12", "BIG": "99"})
	if d, err := Duration(e, "D", time.Second); err != nil || d != 250*time.Millisecond {
		t.Errorf("Duration = %v, %v, want 250ms", d, err)
	}
	if d, err := Duration(e, "UNSET", time.Second); err != nil || d != time.Second {
		t.Errorf("Duration of unset = %v, %v, want the default 1s", d, err)
	}
	if _, err := Duration(e, "BAD", time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("Duration(soon) error = %v, want ErrInvalid", err)
	}
	if n, err := Int(e, "N", 1, 1, 50); err != nil || n != 12 {
		t.Errorf("Int = %d, %v, want 12", n, err)
	}
	if _, err := Int(e, "BIG", 1, 1, 50); !errors.Is(err, ErrInvalid) {
		t.Errorf("Int out of range error = %v, want ErrInvalid", err)
	}
}

func TestNameAndLabel(t *testing.T) {
	e := env(map[string]string{"S": "tally changed", "L": strings.Repeat("x", 65), "OK": "  Cats  "})
	if _, err := Name(e, "S", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Name with a space: error = %v, want ErrInvalid", err)
	}
	if _, err := Label(e, "L", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Label of 65 characters: error = %v, want ErrInvalid", err)
	}
	if got, _ := Label(e, "OK", "x"); got != "Cats" {
		t.Errorf("Label = %q, want trimmed %q", got, "Cats")
	}
}

func TestURLList(t *testing.T) {
	for _, tt := range []struct {
		value, want string
		ok          bool
	}{
		{"", "nats://127.0.0.1:4222", true},
		{"nats://a:4222, nats://u:p@b:4222 ,tls://c:4222", "nats://a:4222,nats://u:p@b:4222,tls://c:4222", true},
		{"nats://a:4222,", "", false},
		{"nats://a:4222,http://b", "", false},
		{"nats://a:4222,nats://u:s3cret@b:0", "", false},
	} {
		got, err := URLList(func(string) string { return tt.value }, "NATS_URL", "nats://127.0.0.1:4222", "nats", "tls")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("URLList(%q): got %q, %v; want %q, ok=%v", tt.value, got, err, tt.want, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("URLList(%q): error %q shows the password", tt.value, err)
		}
	}
}
