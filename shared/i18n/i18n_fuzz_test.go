package i18n

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzNegotiate feeds the ?lang= switch, the lang cookie and
// Accept-Language headers to Negotiate: the answer is always a supported
// language, the switch wins, then the cookie, and a language comes from the
// header only when the header names it with a weight above 0.
func FuzzNegotiate(f *testing.F) {
	for _, h := range []string{"es", "es-ES,es;q=0.9,en;q=0.8", "en-US,en;q=0.9", "fr, es;q=0.5", "es;q=0",
		"ES", "es;q=abc", "es;q=NaN", "es;q=-1", "es;q=1e309", "es;q=0.5, es;q=0.4, en;q=0.45", "*", "",
		"es;level=1;q=0.9", " es ;  q=0.7 ", "es_ES", strings.Repeat("xx;q=0.1,", 1000) + "es"} {
		f.Add("", "", h)
	}
	f.Add("es", "en", "en")
	f.Add("fr", "es", "en")
	f.Add("EN", "ES", "es")
	f.Fuzz(func(t *testing.T, query, cookie, header string) {
		got := Negotiate(query, cookie, header)
		switch {
		case !Supported(got):
			t.Fatalf("Negotiate(%q, %q, %q) = %q, not a supported language", query, cookie, header, got)
		case Supported(query):
			if got != query {
				t.Fatalf("Negotiate(%q, %q, %q) = %q, want the switch's %q", query, cookie, header, got, query)
			}
		case Supported(cookie):
			if got != cookie {
				t.Fatalf("Negotiate(%q, %q, %q) = %q, want the cookie's %q", query, cookie, header, got, cookie)
			}
		case got != English && !namedWithWeight(header, got):
			t.Fatalf("Negotiate(%q, %q, %q) = %q, which the header does not ask for", query, cookie, header, got)
		}
	})
}

// namedWithWeight reports whether header names lang (or a region of it)
// with a weight above 0, or in a part that is not of the form
// "tag[;q=weight]" that RFC 9110 gives Accept-Language, where any choice
// will do.
func namedWithWeight(header, lang string) bool {
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		tag := strings.ToLower(strings.TrimSpace(fields[0]))
		if tag != lang && !strings.HasPrefix(tag, lang+"-") {
			continue
		}
		if len(fields) == 1 {
			return true
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(fields[1]), "q=")
		if len(fields) > 2 || !ok {
			return true
		}
		if q, err := strconv.ParseFloat(v, 64); err == nil && q > 0 {
			return true
		}
	}
	return false
}
