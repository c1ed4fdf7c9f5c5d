package tally

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
)

// FuzzUnmarshalJSON feeds NATS payloads to the tally decoder. A tally it
// accepts can be true (every count a sane option id and not negative, the
// total their sum, a poll id, a known state), encodes to JSON it accepts
// again as the same tally, and a refused one leaves the destination as it
// was. Tallies are compared by their encoding so that the test does not
// depend on the exact set of fields.
func FuzzUnmarshalJSON(f *testing.F) {
	seeds := []string{
		// The contract's example, and a version 1 tally (no poll).
		`{"poll": "default", "version": 42, "counts": {"a": 10, "b": 7}, "total": 17, "state": "open", "updated_at": "2026-11-26T19:30:00.123Z"}`,
		`{"version":3,"counts":{"a":1,"b":2},"total":3,"updated_at":"2026-11-26T19:30:00Z"}`,
		`{"poll":"q7k2m9xa","version":0,"counts":{"a":0,"b":0,"c":0},"total":0,"state":"closed","updated_at":"1970-01-01T00:00:00.000Z"}`,
		// Forged: the highest version, a total that is not the sum,
		// negative counts, overflowing counts.
		`{"poll":"default","version":9223372036854775807,"counts":{"a":1},"total":1,"state":"open"}`,
		`{"poll":"default","version":9223372036854775808,"counts":{"a":1},"total":1}`,
		`{"poll":"default","version":5,"counts":{"a":10,"b":7},"total":1000,"state":"open"}`,
		`{"poll":"default","version":5,"counts":{"a":-3,"b":4},"total":1}`,
		`{"poll":"default","version":5,"counts":{"a":9223372036854775807,"b":1},"total":-9223372036854775808}`,
		`{"poll":"default","version":-1,"counts":{},"total":0}`,
		`{"poll":"default","counts":{},"total":0}`,
		`{"poll":"","version":1,"counts":{},"total":0}`,
		`{"poll":"../x","version":1,"counts":{},"total":0}`,
		`{"poll":"default","version":1,"counts":{"<script>":1},"total":1}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"state":"frozen"}`,
		`{"poll":"default","version":1,"counts":{"a":1,"a":2},"total":2}`,
		`{"poll":"default","version":1.5,"counts":{},"total":0}`,
		`{"poll":"default","version":1,"counts":{"a":1e3},"total":1000}`,
		`{"poll":"default","version":1,"counts":{},"total":0,"updated_at":"2026-11-26T19:30:00.123456789+01:00"}`,
		// Not tallies at all.
		``, `null`, `[]`, `"tally"`, `{`, `{"poll":"default"}trailing`,
		"{\"poll\":\"def\xffault\",\"version\":1,\"counts\":{},\"total\":0}",
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":"x"}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":"7f3a9c2e-db_01"}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":""}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":"0123456789abcdef0123456789abcdefX"}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":"a\"b"}`,
		`{"poll":"default","version":1,"counts":{"a":1},"total":1,"epoch":7}`,
		strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000),
		`{"poll":"default","version":1,"counts":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `,"total":1}`,
		`{"poll":"default","version":1,"counts":{` + manyCounts(5000) + `},"total":5000}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// testdata/fuzz/FuzzUnmarshalJSON holds the inputs the fuzzer found
	// wrong: counts whose percentages overflow, times that UTC moves out
	// of RFC 3339's years.
	f.Fuzz(func(t *testing.T, data []byte) {
		before := New("before", 7, []string{"a", "b"}, map[string]int64{"a": 3, "b": 4}, poll.StateOpen, time.Unix(1, 0))
		want, _ := before.MarshalJSON()
		got := before
		err := json.Unmarshal(data, &got)
		if err != nil {
			if enc, _ := got.MarshalJSON(); !bytes.Equal(enc, want) {
				t.Fatalf("refused %q (%v), yet the tally changed to %s", data, err, enc)
			}
			if json.Valid(data) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused %q with %v, want an error wrapping ErrMalformed", data, err)
			}
			return
		}
		checkTrue(t, got)

		enc, err := got.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of accepted %q: %v", data, err)
		}
		if !json.Valid(enc) {
			t.Fatalf("accepted %q, encoded it as invalid JSON %s", data, enc)
		}
		var again Tally
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("accepted %q, refused its own encoding %s: %v", data, enc, err)
		}
		if enc2, _ := again.MarshalJSON(); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip of %q: got %s, want %s", data, enc2, enc)
		}
	})
}

// checkTrue fails t unless tl is a tally that can be true, as the decoder
// promises of what it accepts.
func checkTrue(t *testing.T, tl Tally) {
	t.Helper()
	if !poll.ValidID(tl.Poll) {
		t.Fatalf("accepted poll %q, not a poll id", tl.Poll)
	}
	if tl.Version < 0 {
		t.Fatalf("accepted version %d", tl.Version)
	}
	if tl.State != poll.StateOpen && tl.State != poll.StateClosed {
		t.Fatalf("accepted state %q", tl.State)
	}
	var sum int64
	for o, n := range tl.Counts {
		if !validOptionKey(o) {
			t.Fatalf("accepted option %q", o)
		}
		if n < 0 {
			t.Fatalf("accepted count %d for %q", n, o)
		}
		if sum > math.MaxInt64-n {
			t.Fatalf("accepted counts that overflow: %v", tl.Counts)
		}
		sum += n
	}
	if sum != tl.Total {
		t.Fatalf("accepted total %d, counts add up to %d", tl.Total, sum)
	}
	if !ValidEpoch(tl.Epoch) {
		t.Fatalf("accepted epoch %q", tl.Epoch)
	}
	if tl.UpdatedAt.Location() != time.UTC {
		t.Fatalf("updated_at %v is not in UTC", tl.UpdatedAt)
	}
	if tl.Total > 0 {
		opts := tl.Options()
		pct := tl.Percentages(opts)
		s := 0
		for i, p := range pct {
			if p < 0 || p > 100 {
				t.Fatalf("percentages of %v: %d %% for %s", tl.Counts, p, opts[i])
			}
			s += p
		}
		if s != 100 {
			t.Fatalf("percentages of %v add up to %d, want 100 (%v)", tl.Counts, s, pct)
		}
	}
}

func manyCounts(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"o` + strconv.Itoa(i) + `":1`)
	}
	return b.String()
}

// FuzzPollFromSubject checks that a subject is taken for a poll's only
// when it is exactly that poll's subject.
func FuzzPollFromSubject(f *testing.F) {
	for _, s := range []string{"tally.changed.default", "tally.changed", "tally.changed.q7k2m9xa",
		"tally.changed.>", "tally.changed.*", "tally.changed.a.b", "tally.changed.", "tally.changedx.a", "other.a"} {
		f.Add(DefaultSubject, s)
	}
	f.Fuzz(func(t *testing.T, base, subject string) {
		id, ok := PollFromSubject(base, subject)
		if !ok {
			if poll.ValidID(id) && Subject(base, id) == subject {
				t.Fatalf("PollFromSubject(%q, %q) refused the subject of poll %q", base, subject, id)
			}
			return
		}
		if !poll.ValidID(id) || Subject(base, id) != subject {
			t.Fatalf("PollFromSubject(%q, %q) = %q, which is not a poll id whose subject it is", base, subject, id)
		}
	})
}
