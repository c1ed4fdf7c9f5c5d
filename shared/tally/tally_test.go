package tally

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
)

var ab = []string{"a", "b"}

func TestNewFillsEveryOption(t *testing.T) {
	got := New("default", 3, ab, map[string]int64{"b": 2}, "", time.Date(2026, 11, 26, 19, 30, 0, 123456789, time.FixedZone("x", 3600)))
	want := Tally{
		Poll:      "default",
		Version:   3,
		Counts:    map[string]int64{"a": 0, "b": 2},
		Total:     2,
		State:     "open",
		UpdatedAt: time.Date(2026, 11, 26, 18, 30, 0, 123000000, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestEmpty(t *testing.T) {
	p, err := poll.New("q7k2m9xa", "Which talk next?", []string{"Go", "Rust", "Zig"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := Empty(p)
	if got.Poll != "q7k2m9xa" || got.Version != 0 || got.Total != 0 || len(got.Counts) != 3 || got.State != "open" {
		t.Errorf("got %+v, want version 0 of q7k2m9xa with three zero counts, open", got)
	}
}

func TestMarshalJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 30, 0, 123000000, time.UTC)
	twelve := make([]string, 12)
	for i := range twelve {
		twelve[i] = poll.OptionID(i)
	}
	tests := []struct {
		name string
		in   Tally
		want string
	}{
		{"contract example", New("default", 42, ab, map[string]int64{"a": 10, "b": 7}, "open", at),
			`{"poll":"default","version":42,"counts":{"a":10,"b":7},"total":17,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"empty", New("default", 0, ab, nil, "", at),
			`{"poll":"default","version":0,"counts":{"a":0,"b":0},"total":0,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"closed, three options", New("q7k2m9xa", 5, []string{"a", "b", "c"}, map[string]int64{"c": 2}, "closed", at.Truncate(time.Second)),
			`{"poll":"q7k2m9xa","version":5,"counts":{"a":0,"b":0,"c":2},"total":2,"state":"closed","updated_at":"2026-11-26T19:30:00.000Z"}`},
		{"twelve in order", New("p", 1, twelve, map[string]int64{"l": 1}, "", at),
			`{"poll":"p","version":1,"counts":{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0,"j":0,"k":0,"l":1},"total":1,"state":"open","updated_at":"2026-11-26T19:30:00.123Z"}`},
		{"with its epoch, last", withEpoch(New("default", 42, ab, map[string]int64{"a": 10, "b": 7}, "open", at), "3f9a0c1d2e4b"),
			`{"poll":"default","version":42,"counts":{"a":10,"b":7},"total":17,"state":"open","updated_at":"2026-11-26T19:30:00.123Z","epoch":"3f9a0c1d2e4b"}`},
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

func withEpoch(t Tally, epoch string) Tally {
	t.Epoch = epoch
	return t
}

func TestUnmarshalJSONAccepts(t *testing.T) {
	tests := []struct {
		name, in string
		want     Tally
	}{
		{"version 1 shape is the default poll's", `{"version":3,"counts":{"a":1,"b":2},"total":3,"updated_at":"2026-11-26T19:30:00Z"}`,
			New("default", 3, nil, map[string]int64{"a": 1, "b": 2}, "open", time.Date(2026, 11, 26, 19, 30, 0, 0, time.UTC))},
		{"an option this consumer does not know", `{"poll":"x1","version":1,"counts":{"a":1,"zz":1},"total":2,"state":"closed","updated_at":"2026-11-26T19:30:00Z"}`,
			New("x1", 1, nil, map[string]int64{"a": 1, "zz": 1}, "closed", time.Date(2026, 11, 26, 19, 30, 0, 0, time.UTC))},
		{"an epoch of any sane shape", `{"poll":"x1","version":2,"counts":{"a":1},"total":1,"epoch":"Z-9_"}`,
			withEpoch(New("x1", 2, nil, map[string]int64{"a": 1}, "open", time.Time{}), "Z-9_")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tally
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
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
		{"bad option id", `{"version":1,"counts":{"a":1,"C D":1},"total":2}`},
		{"negative count", `{"version":1,"counts":{"a":-1,"b":2},"total":1}`},
		{"wrong total", `{"version":1,"counts":{"a":1,"b":2},"total":4}`},
		{"overflow", `{"version":1,"counts":{"a":9223372036854775807,"b":2},"total":1}`},
		{"bad poll id", `{"poll":"../x","version":1,"counts":{},"total":0}`},
		{"bad state", `{"poll":"x","version":1,"counts":{},"total":0,"state":"maybe"}`},
		{"epoch not a string", `{"poll":"x","version":1,"counts":{},"total":0,"epoch":7}`},
		{"epoch with markup", `{"poll":"x","version":1,"counts":{},"total":0,"epoch":"<b>"}`},
		{"epoch too long", `{"poll":"x","version":1,"counts":{},"total":0,"epoch":"` + strings.Repeat("a", MaxEpochLen+1) + `"}`},
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
		name    string
		options []string
		counts  map[string]int64
		want    []int
	}{
		{"no votes", ab, nil, []int{0, 0}},
		{"one vote", ab, map[string]int64{"a": 1}, []int{100, 0}},
		{"even", ab, map[string]int64{"a": 5, "b": 5}, []int{50, 50}},
		{"thirds round to 100", ab, map[string]int64{"a": 1, "b": 2}, []int{33, 67}},
		{"tie on remainder goes to first", []string{"a", "b", "c"}, map[string]int64{"a": 1, "b": 1, "c": 1}, []int{34, 33, 33}},
		{"tiny share", ab, map[string]int64{"a": 1, "b": 999}, []int{0, 100}},
		{"just over half", ab, map[string]int64{"a": 10, "b": 7}, []int{59, 41}},
		{"seven ways", []string{"a", "b", "c", "d", "e", "f", "g"}, map[string]int64{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1}, []int{15, 15, 14, 14, 14, 14, 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New("p", 1, tt.options, tt.counts, "", time.Time{}).Percentages(tt.options)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	at := func(version int64, epoch string) Tally {
		return withEpoch(New("p", version, ab, nil, "", time.Time{}), epoch)
	}
	tests := []struct {
		name   string
		t, cur Tally
		newer  bool
	}{
		{"higher version", at(5, "e1"), at(4, "e1"), true},
		{"lower version", at(4, "e1"), at(5, "e1"), false},
		{"same version", at(5, "e1"), at(5, "e1"), false},
		{"higher version, neither has an epoch", at(5, ""), at(4, ""), true},
		{"higher version of another epoch", at(9, "e2"), at(4, "e1"), false},
		{"lower version of another epoch", at(1, "e2"), at(4, "e1"), false},
	}
	for _, tt := range tests {
		if got := tt.t.Newer(tt.cur); got != tt.newer {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.newer)
		}
	}
}

func TestSubjects(t *testing.T) {
	if got := Subject("tally.changed", "q7"); got != "tally.changed.q7" {
		t.Errorf("Subject: got %q", got)
	}
	if got := Wildcard("tally.changed"); got != "tally.changed.>" {
		t.Errorf("Wildcard: got %q", got)
	}
	for _, tt := range []struct {
		subject, id string
		ok          bool
	}{
		{"tally.changed.q7", "q7", true},
		{"tally.changed", "", false},
		{"tally.changed.a.b", "", false},
		{"other.q7", "", false},
	} {
		id, ok := PollFromSubject("tally.changed", tt.subject)
		if ok != tt.ok || (ok && id != tt.id) {
			t.Errorf("PollFromSubject(%q) = %q, %v; want %q, %v", tt.subject, id, ok, tt.id, tt.ok)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	tl := New("default", 42, ab, map[string]int64{"a": 10, "b": 7}, "open", time.Now())
	buf := make([]byte, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		buf = tl.AppendJSON(buf[:0])
	}
}
