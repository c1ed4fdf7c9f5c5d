package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		target  string
		a, b, c int
		wantErr string
	}{
		{"defaults: the original's seed load against compose's vote", nil, "http://vote:8080/", 2000, 1000, 50, ""},
		{"own numbers", []string{"-url", "http://127.0.0.1:9000", "-a", "3", "-b", "0", "-c", "1"}, "http://127.0.0.1:9000/", 3, 0, 1, ""},
		{"a path prefix kept", []string{"-url", "https://example.org/vote/"}, "https://example.org/vote/", 2000, 1000, 50, ""},
		{"no votes", []string{"-a", "0", "-b", "0"}, "", 0, 0, 0, "-a 0 -b 0"},
		{"negative", []string{"-a", "-1"}, "", 0, 0, 0, "-a -1"},
		{"no scheme", []string{"-url", "vote:8080"}, "", 0, 0, 0, `-url "vote:8080"`},
		{"no host", []string{"-url", "http://"}, "", 0, 0, 0, `-url "http://"`},
		{"too many at once", []string{"-c", "5000"}, "", 0, 0, 0, "-c 5000"},
		{"no time", []string{"-timeout", "0s"}, "", 0, 0, 0, "-timeout 0s"},
		{"no tries", []string{"-attempts", "0"}, "", 0, 0, 0, "-attempts 0"},
		{"stray argument", []string{"now"}, "", 0, 0, 0, `unexpected arguments ["now"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.target.String() != tt.target || o.a != tt.a || o.b != tt.b || o.conns != tt.c {
				t.Errorf("got %s -a %d -b %d -c %d, want %s -a %d -b %d -c %d", o.target, o.a, o.b, o.conns, tt.target, tt.a, tt.b, tt.c)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"2": 2 * time.Second, " 30 ": 30 * time.Second, "": time.Second, "0": time.Second,
		"Wed, 21 Oct 2015 07:28:00 GMT": time.Second, "-5": time.Second} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
