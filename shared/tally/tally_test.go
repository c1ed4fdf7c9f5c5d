package tally

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestNewFillsEveryOption(t *testing.T) {
	got := New(3, map[string]int64{"b": 2}, time.Date(2026, 11, 26, 19, 30, 0, 123456789, time.FixedZone("x", 3600)))
	want := Tally{
		Version:   3,
		Counts:    map[string]int64{"a": 0, "b": 2},
		Total:     2,
		UpdatedAt: time.Date(2026, 11, 26, 18, 30, 0, 123000000, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestMarshalJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 30, 0, 123000000, time.UTC)
	tests := []struct {
		name string
		in   Tally
		want string
	}{
		{"contract example", New(42, map[string]int64{"a": 10, "b": 7}, at),
			`{"version":42,"counts":{"a":10,"b":7},"total":17,"updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"empty", New(0, nil, at),
			`{"version":0,"counts":{"a":0,"b":0},"total":0,"updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"whole second keeps millis", New(1, map[string]int64{"a": 1}, at.Truncate(time.Second)),
			`{"version":1,"counts":{"a":1,"b":0},"total":1,"updated_at":"2026-11-26T19:30:00.000Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
			var back Tally
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("decoding own output: %v", err)
			}
			if !reflect.DeepEqual(back, tt.in) {
				t.Errorf("round trip got %+v, want %+v", back, tt.in)
			}
		})
	}
}

func TestUnmarshalJSONRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"wrong type", `{"version":"7","counts":{},"total":0}`},
		{"no version", `{"counts":{"a":1,"b":0},"total":1}`},
		{"negative version", `{"version":-1,"counts":{},"total":0}`},
		{"unknown option", `{"version":1,"counts":{"a":1,"c":1},"total":2}`},
		{"negative count", `{"version":1,"counts":{"a":-1,"b":2},"total":1}`},
		{"wrong total", `{"version":1,"counts":{"a":1,"b":2},"total":4}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tally
			err := json.Unmarshal([]byte(tt.in), &got)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("got error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestPercentages(t *testing.T) {
	tests := []struct {
		name   string
		counts map[string]int64
		want   []int
	}{
		{"no votes", nil, []int{0, 0}},
		{"one vote", map[string]int64{"a": 1}, []int{100, 0}},
		{"even", map[string]int64{"a": 5, "b": 5}, []int{50, 50}},
		{"thirds round to 100", map[string]int64{"a": 1, "b": 2}, []int{33, 67}},
		{"tie on remainder goes to first", map[string]int64{"a": 1, "b": 1}, []int{50, 50}},
		{"tiny share", map[string]int64{"a": 1, "b": 999}, []int{0, 100}},
		{"just over half", map[string]int64{"a": 10, "b": 7}, []int{59, 41}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(1, tt.counts, time.Time{}).Percentages()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	old, cur := New(4, nil, time.Time{}), New(5, nil, time.Time{})
	if !cur.Newer(old) {
		t.Errorf("version 5 not newer than 4")
	}
	if old.Newer(cur) || cur.Newer(cur) {
		t.Errorf("an older or equal version counted as newer")
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	tl := New(42, map[string]int64{"a": 10, "b": 7}, time.Now())
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = tl.AppendJSON(buf[:0])
	}
}
