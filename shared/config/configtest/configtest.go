// Package configtest helps the fuzz tests of the services' config.Load: an
// environment written as one string, which a fuzzer can vary, and the
// questions those tests ask of an error.
package configtest

import "strings"

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
