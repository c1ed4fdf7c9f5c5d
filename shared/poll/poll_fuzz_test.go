package poll

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// labelSep separates the labels of one fuzz input.
const labelSep = "|"

// FuzzNew feeds definitions to New, as the vote server gets them from the
// form and the API. A definition it accepts follows the contract's rules,
// gives the same poll when checked again, and survives the JSON that
// carries it to Redis, the stream and the worker unchanged (the worker
// checks it with New once more). A refused one wraps ErrInvalid and makes
// no poll.
func FuzzNew(f *testing.F) {
	long := strings.Repeat("é", MaxQuestion)
	f.Add("q7k2m9xa", "Which colour?", "Red|Green|Blue")
	f.Add("default", "  Cats vs Dogs!  ", " Cats | Dogs ")
	f.Add("a", long, strings.Repeat("x", MaxLabel)+"|"+strings.Repeat("ü", MaxLabel))
	f.Add("a", long+"x", "a|b")
	f.Add("a", "q", strings.Repeat("y", MaxLabel+1)+"|b")
	f.Add("a", "q", "Red|red")
	f.Add("a", "q", "Red| RED ")
	f.Add("a", "q", "only one")
	f.Add("a", "q", "a|b|c|d|e|f|g|h|i|j|k|l")
	f.Add("a", "q", "a|b|c|d|e|f|g|h|i|j|k|l|m")
	f.Add("a", "q", "a||c")
	f.Add("a", "   ", "a|b")
	f.Add("-a", "q", "a|b")
	f.Add("A", "q", "a|b")
	f.Add(strings.Repeat("a", MaxIDLen+1), "q", "a|b")
	f.Add("a", "q", "K|\u212a") // Kelvin sign: lower-cases to k
	f.Add("a", "q", "\u00a0x\u00a0|y")
	f.Add("a", "tab\tand\nnewline", "<b>bold</b>|&amp;")
	f.Add("a", "nul\x00", "a\x00|b")
	f.Fuzz(func(t *testing.T, id, question, joined string) {
		labels := strings.Split(joined, labelSep)
		created := time.Date(2026, 11, 26, 19, 30, 0, 123456789, time.FixedZone("x", 3600))
		p, err := New(id, question, labels, created)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("New refused %q %q %q with %v, want an error wrapping ErrInvalid", id, question, labels, err)
			}
			if !reflect.DeepEqual(p, Poll{}) {
				t.Fatalf("New refused %q %q %q, yet returned %+v", id, question, labels, p)
			}
			return
		}
		checkRules(t, p, question, labels)

		again, err := New(p.ID, p.Question, labelsOf(p), p.CreatedAt)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("New of its own poll %+v: got %+v, %v", p, again, err)
		}

		b, err := json.Marshal(Record{Poll: p, TokenHash: HashToken("t")})
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("the JSON of %+v does not decode: %v", p, err)
		}
		if !rec.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("created_at: got %v, want %v", rec.CreatedAt, p.CreatedAt)
		}
		rec.CreatedAt = p.CreatedAt
		if !reflect.DeepEqual(rec.Poll, p) {
			t.Fatalf("JSON round trip of %+v: got %+v", p, rec.Poll)
		}
		if _, err := New(rec.ID, rec.Question, labelsOf(rec.Poll), rec.CreatedAt); err != nil {
			t.Fatalf("New accepted %q %q, refuses the same poll from its JSON %s: %v", question, labels, b, err)
		}
	})
}

// checkRules fails t unless p follows the contract's rules for a poll made
// from question and labels.
func checkRules(t *testing.T, p Poll, question string, labels []string) {
	t.Helper()
	if !ValidID(p.ID) {
		t.Fatalf("accepted id %q", p.ID)
	}
	for _, text := range append([]string{p.Question}, labelsOf(p)...) {
		if strings.ContainsRune(text, 0) || !utf8.ValidString(text) {
			t.Fatalf("accepted a NUL or invalid UTF-8 (text the worker drops or JSON changes): %q", text)
		}
	}
	if p.Question != strings.TrimSpace(question) {
		t.Fatalf("question: got %q, want %q trimmed", p.Question, question)
	}
	if n := utf8.RuneCountInString(p.Question); n < 1 || n > MaxQuestion {
		t.Fatalf("accepted a question of %d characters", n)
	}
	if n := len(p.Options); n < MinOptions || n > MaxOptions || n != len(labels) {
		t.Fatalf("accepted %d options from %d labels", n, len(labels))
	}
	if p.State != StateOpen {
		t.Fatalf("a new poll's state is %q", p.State)
	}
	if p.CreatedAt.Location() != time.UTC || p.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("created_at %v is not UTC to the millisecond", p.CreatedAt)
	}
	seen := map[string]bool{}
	for i, o := range p.Options {
		if o.ID != OptionID(i) || !ValidOptionID(o.ID) {
			t.Fatalf("option %d has id %q", i, o.ID)
		}
		if o.Label != strings.TrimSpace(labels[i]) {
			t.Fatalf("label %d: got %q, want %q trimmed", i, o.Label, labels[i])
		}
		if n := utf8.RuneCountInString(o.Label); n < 1 || n > MaxLabel {
			t.Fatalf("accepted a label of %d characters", n)
		}
		key := strings.ToLower(o.Label)
		if seen[key] {
			t.Fatalf("accepted label %q twice", o.Label)
		}
		seen[key] = true
	}
}

func labelsOf(p Poll) []string {
	l := make([]string, len(p.Options))
	for i, o := range p.Options {
		l[i] = o.Label
	}
	return l
}

// FuzzCreateRequest decodes the body of POST /api/polls and checks the
// definition, as the vote server does: what it accepts follows the rules.
func FuzzCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"question":"Which colour?","options":["Red","Green","Blue"]}`,
		`{"question":"q","options":["a"]}`,
		`{"question":"q","options":["a","A"]}`,
		`{"question":"q","options":null}`,
		`{"question":"q","options":"a,b"}`,
		`{"question":1,"options":["a","b"]}`,
		`{"question":"q\u0000","options":["a\u0000","b"]}`,
		"{\"question\":\"q\xff\",\"options\":[\"a\xff\",\"a\xfe\"]}",
		`{"question":"q","options":["a","b"],"question":"again"}`,
		`{"question":"q","options":["a","b"]} {"question":"q2"}`,
		`{"Question":"q","OPTIONS":["a","b"]}`,
		`[]`, `null`, ``,
		`{"question":"q","options":[` + strings.Repeat(`"x",`, 5000) + `"y"]}`,
		`{"question":` + strings.Repeat(`[`, 10001) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		p, err := New("q7k2m9xa", req.Question, req.Options, time.Unix(0, 0))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refused %q with %v, want an error wrapping ErrInvalid", body, err)
			}
			return
		}
		checkRules(t, p, req.Question, req.Options)
	})
}

// FuzzRecordJSON decodes poll records as the vote servers read them from
// Redis and the worker from the stream: once decoded, a record encodes
// and decodes to itself.
func FuzzRecordJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"q7k2m9xa","question":"…","options":[{"id":"a","label":"Red"},{"id":"b","label":"Green"}],"state":"open","created_at":"2026-11-26T19:30:00.123Z","token_hash":"ab"}`,
		`{"id":"q","options":[{"id":"a"}],"created_at":"0001-01-01T00:00:00Z"}`,
		`{"id":"q","created_at":"9999-12-31T23:59:59.999999999-23:59"}`,
		"{\"id\":\"q\xff\",\"question\":\"\\ud800\"}",
		`{"options":[null,{"id":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return
		}
		b, err := json.Marshal(rec)
		if err != nil {
			// A time that UTC offsets push out of years 0 to 9999 does
			// not encode; the system only writes times it made itself.
			if rec.CreatedAt.Year() < 0 || rec.CreatedAt.Year() > 9999 {
				return
			}
			t.Fatalf("record decoded from %q does not encode: %v", data, err)
		}
		var again Record
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("the encoding %s of a decoded record does not decode: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip: got %s, want %s", b2, b)
		}
	})
}

// idPattern is the contract's poll id.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// FuzzValidID compares ValidID with the contract's pattern, and
// ValidOptionID with the ids OptionID gives.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"default", "q7k2m9xa", "-a", "a-", "A", "", "a b", "a\n", "a\x00",
		strings.Repeat("a", 40), strings.Repeat("a", 41), "é", "a", "l", "m", "ab"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidID(s), idPattern.MatchString(s); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
		}
		want := false
		for i := range MaxOptions {
			want = want || s == OptionID(i)
		}
		if got := ValidOptionID(s); got != want {
			t.Fatalf("ValidOptionID(%q) = %v, want %v", s, got, want)
		}
	})
}
