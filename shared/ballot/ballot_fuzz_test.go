package ballot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// voterIDPattern is a voter id's shape: version 1's random part alone, or
// the random part, a dot and the MAC.
var voterIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}(\.[A-Za-z0-9_-]{16})?$`)

// FuzzValidVoterID compares the shape check the worker makes of the
// stream's voter ids with the pattern of the ids vote servers issue.
func FuzzValidVoterID(f *testing.F) {
	for _, s := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "abcXYZ019-_abcXYZ019-_.0123456789abcDEF",
		"", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAA\n", "abcXYZ019-_abcXYZ019-_00123456789abcDEF",
		"abcXYZ019-_abcXYZ019-_.0123456789abcDE\xff", "ÀAAAAAAAAAAAAAAAAAAAA", "'; DROP TABLE ballots; --"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidVoterID(s), voterIDPattern.MatchString(s); got != want {
			t.Fatalf("ValidVoterID(%q) = %v, want %v", s, got, want)
		}
	})
}

// referenceID is id's random part signed with key, written without
// VoterSigner: what a vote server holding key issues for that random part.
func referenceID(key []byte, random string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(voterIDDomain + random))
	return random + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:voterMACBytes])
}

// FuzzVoterSigner checks the voter id cookie's verifier. An id it accepts
// is what the signer with that key issues for the id's random part; every
// id it issues it accepts, and refuses it once any byte is altered, cut or
// added, or under any other key.
func FuzzVoterSigner(f *testing.F) {
	key := bytes.Repeat([]byte{7}, MinVoterKeyLen)
	f.Add(key, "abcXYZ019-_abcXYZ019-_.0123456789abcDEF", 0, byte(1), "")
	f.Add(key, "AAAAAAAAAAAAAAAAAAAAAA", 38, byte(0x20), "x")
	f.Add(key, referenceID(key, "abcXYZ019-_abcXYZ019-_"), 22, byte('.'^'_'), ".")
	f.Add(key[:MinVoterKeyLen-1], "", 5, byte(0x80), "")
	f.Add(bytes.Repeat([]byte{0}, 64), "abcXYZ019-_abcXYZ019-_.", -1, byte(0), "\x00")
	f.Add(key, "", 1<<40, byte(0xff), strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, key []byte, given string, pos int, flip byte, tail string) {
		s, err := NewVoterSigner(key)
		if len(key) < MinVoterKeyLen {
			if !errors.Is(err, ErrShortVoterKey) || s != nil {
				t.Fatalf("NewVoterSigner(%d bytes) = %v, %v; want nil, ErrShortVoterKey", len(key), s, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("NewVoterSigner(%d bytes): %v", len(key), err)
		}

		// Whatever it is given, it accepts exactly what the key signs.
		if s.Check(given) {
			if len(given) != SignedVoterIDLen || referenceID(key, given[:VoterIDLen]) != given {
				t.Fatalf("Check(%q) accepted an id the key did not sign", given)
			}
		}
		if len(given) >= VoterIDLen && urlBase64(given[:VoterIDLen]) {
			if ref := referenceID(key, given[:VoterIDLen]); !s.Check(ref) {
				t.Fatalf("Check(%q) refused the id signed with its key", ref)
			}
		}

		id := s.Issue()
		if !s.Check(id) || !ValidVoterID(id) || len(id) != SignedVoterIDLen {
			t.Fatalf("Issue() = %q: Check %v, ValidVoterID %v, length %d", id, s.Check(id), ValidVoterID(id), len(id))
		}
		if referenceID(key, id[:VoterIDLen]) != id {
			t.Fatalf("Issue() = %q, want %q", id, referenceID(key, id[:VoterIDLen]))
		}
		if flip != 0 {
			b := []byte(id)
			i := pos % len(b)
			if i < 0 {
				i += len(b)
			}
			b[i] ^= flip
			if s.Check(string(b)) {
				t.Fatalf("Check accepted %q, %q with byte %d altered", b, id, i)
			}
		}
		if tail != "" && s.Check(id+tail) {
			t.Fatalf("Check accepted %q with %q added", id, tail)
		}
		if n := len(tail) % len(id); n > 0 && s.Check(id[:len(id)-n]) {
			t.Fatalf("Check accepted %q cut to %q", id, id[:len(id)-n])
		}
		other := append([]byte(nil), key...)
		other[len(other)-1] ^= 1
		o, err := NewVoterSigner(other)
		if err != nil {
			t.Fatal(err)
		}
		if o.Check(id) {
			t.Fatalf("an id issued under one key passed under another")
		}
		if s.Same(other) || !s.Same(key) {
			t.Fatalf("Same: got %v for its key and %v for another", s.Same(key), s.Same(other))
		}
	})
}

// FuzzRequest decodes the body of the vote API: once decoded, a request
// encodes and decodes to itself.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{`{"vote":"a"}`, `{"vote":"c"}`, `{"vote":""}`, `{"vote":null}`, `{"vote":1}`,
		`{"vote":["a"]}`, `{"VOTE":"b"}`, `{"vote":"a","vote":"b"}`, `{"vote":"a"} {"vote":"b"}`,
		"{\"vote\":\"\xff\"}", `{"vote":"\ud800"}`, `{"vote":"a\u0000"}`, `{"vote":"a","voter_id":"x"}`,
		`{"vote":"` + strings.Repeat("a", 5000) + `"}`, strings.Repeat(`{"vote":`, 10001), `[]`, `null`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Request
		if err := json.Unmarshal(data, &req); err != nil {
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("request decoded from %q does not encode: %v", data, err)
		}
		var again Request
		if err := json.Unmarshal(b, &again); err != nil || again != req {
			t.Fatalf("round trip of %q through %s: got %+v, %v; want %+v", data, b, again, err, req)
		}
	})
}
