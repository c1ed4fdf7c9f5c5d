package ratelimit

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds RATE_LIMIT_* values to Parse: what it accepts is off or
// 1 to a million per second or minute, and reads back the same from its
// String; what it refuses wraps ErrSyntax.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"off", "OFF", " Off ", "1500/m", "3000/m", "25/s", " 10 / S ", "1/s", "1000000/m",
		"1000001/m", "0/s", "-1/s", "+5/s", "5/h", "5/", "/s", "5", "5/s/s", "5/ms", "0x10/s", "1e3/s",
		"99999999999999999999/s", "5\x00/s", "５/s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) || l != (Limit{}) {
				t.Fatalf("Parse(%q) = %+v, %v; want the zero Limit and ErrSyntax", s, l, err)
			}
			return
		}
		if !l.Off() && (l.N < 1 || l.N > maxN || l.Per != time.Second && l.Per != time.Minute) {
			t.Fatalf("Parse(%q) accepted %+v", s, l)
		}
		if l.Off() && l != (Limit{}) {
			t.Fatalf("Parse(%q) = %+v, off but not the zero Limit", s, l)
		}
		again, err := Parse(l.String())
		if err != nil || again != l {
			t.Fatalf("Parse(%q) = %+v, written %q, reads back %+v, %v", s, l, l.String(), again, err)
		}
	})
}
