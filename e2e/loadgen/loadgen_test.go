package main

import (
	"testing"
	"time"
)

func TestTallyFields(t *testing.T) {
	tests := []struct {
		in             string
		version, total int64
	}{
		{`{"version":42,"counts":{"a":10,"b":7},"total":17,"updated_at":"2026-11-26T19:30:00.123Z"}`, 42, 17},
		{`{"version":0,"counts":{"a":0,"b":0},"total":0}`, 0, 0},
		{`{}`, -1, -1},
	}
	for _, tt := range tests {
		v, n := tallyFields([]byte(tt.in))
		if v != tt.version || n != tt.total {
			t.Errorf("tallyFields(%s) = %d, %d; want %d, %d", tt.in, v, n, tt.version, tt.total)
		}
	}
}

func TestVoterIDFrom(t *testing.T) {
	if got := voterIDFrom([]byte(`{"voter_id":"AbC-_0123456789abcdefg","vote":"a"}`)); got != "AbC-_0123456789abcdefg" {
		t.Errorf("got %q", got)
	}
	if got := voterIDFrom([]byte(`{"error":"x"}`)); got != "" {
		t.Errorf("got %q from an error body, want empty", got)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	p := percentiles(d)
	if p.p50 != 51 || p.p99 != 100 || p.max != 100 {
		t.Errorf("got %+v, want p50 51, p99 100, max 100 (ms)", p)
	}
	if (percentiles(nil) != pct{}) {
		t.Error("percentiles of nothing is not zero")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-rates", "100, 500"}, true},
		{[]string{"-rates", "fast"}, false},
		{[]string{"-phases", "ingest,warp"}, false},
		{[]string{"-vote", "http://127.0.0.1:8080"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) error = %v, want ok=%v", tt.args, err, tt.ok)
		}
	}
}
