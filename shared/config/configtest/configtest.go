// Package configtest helps the fuzz tests of the services' config.Load: an
// environment written as one string, which a fuzzer can vary, and the
// questions those tests ask of an error.
package configtest

import (
	"strings"
	"testing"
)

// Env is an environment written as KEY=VALUE entries separated by NUL, the
// one byte no environment variable holds. It remembers which variables
// were read.
type Env struct {
	Vars  map[string]string
	asked map[string]bool
}

// Parse reads an environment written by Join (or by a fuzzer).
func Parse(s string) *Env {
	e := &Env{Vars: map[string]string{}, asked: map[string]bool{}}
	for _, kv := range strings.Split(s, "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e.Vars[k] = v
		}
	}
	return e
}

// Join writes KEY=VALUE entries as one environment string.
func Join(kv ...string) string { return strings.Join(kv, "\x00") }

// Getenv is the environment's lookup, for config.Load.
func (e *Env) Getenv(k string) string { e.asked[k] = true; return e.Vars[k] }

// Named reports whether msg names a variable that was read and found set.
func (e *Env) Named(msg string) bool {
	for k := range e.asked {
		if strings.TrimSpace(e.Vars[k]) != "" && strings.Contains(msg, k) {
			return true
		}
	}
	return false
}

// Elsewhere reports whether v is part of a variable's value other than
// k's, where an error may rightly show it.
func (e *Env) Elsewhere(k, v string) bool {
	for other, w := range e.Vars {
		if other != k && strings.Contains(w, v) {
			return true
		}
	}
	return false
}

// Secret is the password the redaction fuzz tests put in URLs.
const Secret = "Zq8pw5Secret"

// CheckRedaction sets one of keys (which one, which's low bits say) to a
// URL of scheme, user and rest carrying Secret, in its user information or,
// when which's high bit is set, as a password parameter (libpq's form),
// and fails t when load's error shows it. Values that are no URL of that
// shape are skipped: shared/config's FuzzURLRedaction tries those; this
// tries what a service's Load and its drivers say.
func CheckRedaction(t *testing.T, which byte, scheme, user, rest string, keys []string, load func(getenv func(string) string) error) {
	t.Helper()
	if strings.Contains(scheme+user+rest, Secret[:3]) {
		t.Skip("the fuzzer wrote the password's start itself")
	}
	if strings.ContainsAny(user, "/?#@") || strings.ContainsFunc(scheme, notSchemeChar) {
		t.Skip("the password is not in the user information")
	}
	key := keys[int(which&0x7f)%len(keys)]
	value := passwordURL(which, scheme, user, rest)
	err := load(func(k string) string {
		if k == key {
			return value
		}
		return ""
	})
	if err != nil && strings.Contains(err.Error(), Secret) {
		t.Fatalf("%s=%q: error %q shows the password", key, value, err)
	}
}

// passwordURL is a URL with Secret in its user information, or, when
// which's high bit is set, in a password parameter.
func passwordURL(which byte, scheme, user, rest string) string {
	if which&0x80 == 0 {
		return scheme + "://" + user + ":" + Secret + "@" + rest
	}
	if user != "" {
		user += "@"
	}
	sep := "?"
	if strings.Contains(rest, "?") {
		sep = "&"
	}
	return scheme + "://" + user + rest + sep + "password=" + Secret
}

// notSchemeChar reports whether r cannot be in a URL scheme.
func notSchemeChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
}
