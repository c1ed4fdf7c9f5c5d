// Package config holds the environment helpers every service's own config
// package uses: defaults for unset variables and validation whose errors
// name the variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Getenv reads one environment variable; os.Getenv in main, a map lookup in
// tests.
type Getenv func(key string) string

// ErrInvalid is wrapped by every error about a variable's value.
var ErrInvalid = errors.New("config: invalid setting")

func invalid(key, value, why string) error {
	return fmt.Errorf("%w: %s=%q: %s", ErrInvalid, key, redactParams(value), why)
}

// passwordParam matches a password given as a parameter rather than in the
// userinfo: libpq's password= and sslpassword=, in a URL's query or in a
// keyword/value connection string. The value runs to the next & or space
// (all the rest when the spaces are escaped: masking too much is fine).
var passwordParam = regexp.MustCompile(`(?i)(password=)[^&\s]*`)

func redactParams(s string) string {
	return passwordParam.ReplaceAllString(s, "${1}xxxxx")
}

// Redacted is u as errors and logs may show it: url.URL.Redacted, which
// masks the userinfo's password, with password parameters masked too.
func Redacted(u *url.URL) string {
	return redactParams(u.Redacted())
}

// String returns the variable's value with surrounding space removed, or def
// when it is unset or blank.
func String(getenv Getenv, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

// Addr returns a listen address of the form [host]:port with a port from 0
// to 65535.
func Addr(getenv Getenv, key, def string) (string, error) {
	v := String(getenv, key, def)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", invalid(key, v, "want [host]:port, such as :8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", invalid(key, v, "port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		return "", invalid(key, v, "host is not a host name or address")
	}
	return v, nil
}

// URL returns the variable parsed as an absolute URL with a host and one of
// the given schemes.
func URL(getenv Getenv, key, def string, schemes ...string) (*url.URL, error) {
	v := String(getenv, key, def)
	u, err := url.Parse(v)
	if err != nil {
		return nil, invalid(key, RedactString(v), "not a URL")
	}
	// Errors show the value with any password masked: a mistyped URL
	// ("nats//u:pw@h", "nats:/u:pw@h") parses with its userinfo in the
	// path, where Redacted would not look.
	shown := Redacted(u)
	if u.User == nil {
		shown = RedactString(v)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return nil, invalid(key, shown, "scheme must be one of "+strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return nil, invalid(key, shown, "no host")
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, invalid(key, shown, "port must be a number from 1 to 65535")
		}
	}
	return u, nil
}

// RedactString masks what may be a password in a value that is meant to be
// a URL but may not parse as one: everything before the last "@" from the
// "//" (or, lacking one, the first ":") on, and password parameters.
// Masking a user name or a path with it is fine; showing a password is not.
func RedactString(v string) string {
	if at := strings.LastIndex(v, "@"); at >= 0 {
		start := 0
		if i := strings.Index(v[:at], "//"); i >= 0 {
			start = i + 2
		} else if i := strings.Index(v[:at], ":"); i >= 0 {
			start = i + 1
		}
		v = v[:start] + "xxxxx" + v[at:]
	}
	return redactParams(v)
}

// OptionalURL is URL for a variable that may be left unset: it returns
// nil, and no error, when the variable is unset or blank.
func OptionalURL(getenv Getenv, key string, schemes ...string) (*url.URL, error) {
	if String(getenv, key, "") == "" {
		return nil, nil
	}
	u, err := URL(getenv, key, "", schemes...)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// URLList returns a comma-separated list of URLs (NATS_URL may name
// several servers of a cluster), each checked as URL checks one, joined
// again with commas and no spaces.
func URLList(getenv Getenv, key, def string, schemes ...string) (string, error) {
	parts := strings.Split(String(getenv, key, def), ",")
	for i, p := range parts {
		u, err := URL(func(string) string { return strings.TrimSpace(p) }, key, "", schemes...)
		if err != nil {
			return "", err
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ","), nil
}

// Duration returns the variable parsed by time.ParseDuration; it must be
// positive.
func Duration(getenv Getenv, key string, def time.Duration) (time.Duration, error) {
	v := String(getenv, key, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalid(key, v, "want a positive duration such as 5s")
	}
	return d, nil
}

// Int returns the variable as a whole number from min to max.
func Int(getenv Getenv, key string, def, min, max int) (int, error) {
	v := String(getenv, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, invalid(key, v, fmt.Sprintf("want a whole number from %d to %d", min, max))
	}
	return n, nil
}

// Name returns a non-blank name made of letters, digits and ".-_:*>" (a
// Redis key or a NATS subject), or def.
func Name(getenv Getenv, key, def string) (string, error) {
	v := String(getenv, key, def)
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return "", invalid(key, v, "must not contain spaces or control characters")
		}
	}
	return v, nil
}

// Label returns a label shown to people: trimmed, at most 64 characters.
func Label(getenv Getenv, key, def string) (string, error) {
	v := String(getenv, key, def)
	if len([]rune(v)) > 64 {
		return "", invalid(key, v, "at most 64 characters")
	}
	return v, nil
}

// The contract's defaults for the dependencies' addresses.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultDatabaseURL = "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultNATSURL     = "nats://127.0.0.1:4222"
)

// Labels returns what people see for options a and b: OPTION_A and
// OPTION_B, by default Cats and Dogs.
func Labels(getenv Getenv) (map[string]string, error) {
	a, err := Label(getenv, "OPTION_A", "Cats")
	if err != nil {
		return nil, err
	}
	b, err := Label(getenv, "OPTION_B", "Dogs")
	if err != nil {
		return nil, err
	}
	return map[string]string{"a": a, "b": b}, nil
}
