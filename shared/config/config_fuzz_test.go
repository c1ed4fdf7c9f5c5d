package config

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzKey is the variable every helper reads in the fuzz tests.
const fuzzKey = "FUZZ_SETTING"

// checkErr fails t unless err is one line that wraps ErrInvalid and names
// the variable.
func checkErr(t *testing.T, helper, value string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), fuzzKey) {
		t.Fatalf("%s(%q): error %q does not wrap ErrInvalid and name %s", helper, value, err, fuzzKey)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("%s(%q): error %q is not one line", helper, value, err)
	}
}

// FuzzHelpers feeds one value to every helper: none panics, each error
// names the variable, and what each accepts is valid for its kind.
func FuzzHelpers(f *testing.F) {
	for _, s := range []string{"", "  ", ":8080", "127.0.0.1:9000", "[::1]:9000", "localhost", ":http", ":70000",
		":-1", ":+80", ": 80", "a b:80", "a/b:80", "250ms", "0s", "-1s", "1h1h", "9223372036854775807ns", "1e3s",
		"12", "-0", "+12", "0x10", "9223372036854775808", "99999999999999999999", "votes", "tally.>", "a b", "a\tb",
		"a\x7fb", "a\x00b", "\xff", "\u00a0votes\u00a0", strings.Repeat("ñ", 64), strings.Repeat("ñ", 65),
		"redis://127.0.0.1:6379/0", "http://example.com:0", "http://example.com:65536/", "http://", "::not a url",
		"http://[::1]:8080/x/", "HTTP://Example.com", "unix:///tmp/redis.sock", "http://a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		getenv := func(k string) string {
			if k == fuzzKey {
				return value
			}
			return ""
		}
		blank := strings.TrimSpace(value) == ""

		if got := String(getenv, fuzzKey, "def"); blank && got != "def" || !blank && got != strings.TrimSpace(value) {
			t.Fatalf("String(%q) = %q", value, got)
		}

		if addr, err := Addr(getenv, fuzzKey, ":8080"); err != nil {
			checkErr(t, "Addr", value, err)
		} else {
			host, port, err := net.SplitHostPort(addr)
			n, perr := strconv.Atoi(port)
			if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, " /") {
				t.Fatalf("Addr(%q) accepted %q", value, addr)
			}
		}

		for _, optional := range []bool{false, true} {
			u, err := URL(getenv, fuzzKey, "http://127.0.0.1:1", "http", "https")
			if optional {
				u, err = OptionalURL(getenv, fuzzKey, "http", "https")
			}
			switch {
			case err != nil:
				checkErr(t, "URL", value, err)
			case u == nil:
				if !optional || !blank {
					t.Fatalf("URL(%q) (optional %v) = nil, no error", value, optional)
				}
			default:
				if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
					t.Fatalf("URL(%q) accepted %q", value, u)
				}
				if p := u.Port(); p != "" {
					if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
						t.Fatalf("URL(%q) accepted port %q", value, p)
					}
				}
			}
		}

		if d, err := Duration(getenv, fuzzKey, 7); err != nil {
			checkErr(t, "Duration", value, err)
		} else if d <= 0 || blank && d != 7 {
			t.Fatalf("Duration(%q) = %v", value, d)
		}

		if n, err := Int(getenv, fuzzKey, 5, 1, 100); err != nil {
			checkErr(t, "Int", value, err)
		} else if n < 1 || n > 100 || blank && n != 5 {
			t.Fatalf("Int(%q) = %d", value, n)
		}

		if name, err := Name(getenv, fuzzKey, "votes"); err != nil {
			checkErr(t, "Name", value, err)
		} else if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("Name(%q) accepted %q", value, name)
		}

		if label, err := Label(getenv, fuzzKey, "Cats"); err != nil {
			checkErr(t, "Label", value, err)
		} else if n := utf8.RuneCountInString(label); n < 1 || n > 64 {
			t.Fatalf("Label(%q) accepted %q of %d characters", value, label, n)
		}
	})
}

// secret is the password the redaction fuzz test puts in URLs; a value
// the fuzzer makes holds it nowhere else.
const secret = "Zq8pw5Secret"

// FuzzURLRedaction puts a password in the user information of a URL, the
// rest of which the fuzzer chooses (separators after the scheme included,
// as a person mistypes them), and checks that no error of URL shows it.
func FuzzURLRedaction(f *testing.F) {
	f.Add("redis", "://", "u", "127.0.0.1:99999/0")
	f.Add("postgres", "://", "postgres", "db:5432/x?sslmode=disable")
	f.Add("http", "://", "u", "127.0.0.1:4222")
	f.Add("nats", "://", "u", "[::1:4222%zz")
	f.Add("nats", "://", "", "h:4222")
	f.Add("nats", "://", "u%zz", "h:4222")
	f.Add("nats", "://", "u", "h@other:4222")
	// testdata/fuzz/FuzzURLRedaction holds the mistyped separators
	// ("//", ":/", ":", ":///") whose errors the fuzzer found showing the
	// password: the value parses, as a path, with no user information for
	// url.URL.Redacted to mask.
	f.Add(" nats", "://", "u", "h:4222")
	f.Add("na ts", "://", "u", "h:4222")
	f.Fuzz(func(t *testing.T, scheme, sep, user, rest string) {
		if strings.Contains(scheme+sep+user+rest, secret[:3]) {
			t.Skip("the fuzzer wrote the password's start itself")
		}
		if strings.ContainsAny(user, "/?#@") {
			t.Skip("the password is not in the user information")
		}
		value := scheme + sep + user + ":" + secret + "@" + rest
		getenv := func(string) string { return value }
		if _, err := URL(getenv, fuzzKey, "", "nats", "tls"); err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("URL(%q): error %q shows the password", value, err)
		}
		if _, err := OptionalURL(getenv, fuzzKey, "http"); err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("OptionalURL(%q): error %q shows the password", value, err)
		}
	})
}
