package ballot

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNewVoterID(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		id := NewVoterID()
		if !ValidVoterID(id) {
			t.Fatalf("NewVoterID() = %q, which ValidVoterID rejects", id)
		}
		if seen[id] {
			t.Fatalf("NewVoterID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidVoterID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"version 1", "AAAAAAAAAAAAAAAAAAAAAA", true},
		{"url alphabet", "abcXYZ019-_abcXYZ019-_", true},
		{"signed", "abcXYZ019-_abcXYZ019-_.0123456789abcDEF", true},
		{"empty", "", false},
		{"short", "AAAA", false},
		{"long", "AAAAAAAAAAAAAAAAAAAAAAA", false},
		{"padding", "AAAAAAAAAAAAAAAAAAAAA=", false},
		{"std alphabet", "AAAAAAAAAAAAAAAAAAAAA+", false},
		{"quote", "AAAAAAAAAAAAAAAAAAAAA\"", false},
		{"signed without dot", "abcXYZ019-_abcXYZ019-_00123456789abcDEF", false},
		{"signed, dot elsewhere", "abcXYZ019-_abcXYZ019-.0123456789abcDEF_", false},
		{"signed, second dot", "abcXYZ019-_abcXYZ019-_.0123456789abc.EF", false},
		{"signed, mac too short", "abcXYZ019-_abcXYZ019-_.0123456789abcDE", false},
		{"signed, mac too long", "abcXYZ019-_abcXYZ019-_.0123456789abcDEFG", false},
		{"signed, space", "abcXYZ019-_abcXYZ019-_.0123456789abcDE ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidVoterID(tt.in); got != tt.want {
				t.Errorf("ValidVoterID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MinVoterKeyLen) }

func TestNewVoterSignerShortKey(t *testing.T) {
	for _, n := range []int{0, 1, MinVoterKeyLen - 1} {
		if _, err := NewVoterSigner(make([]byte, n)); !errors.Is(err, ErrShortVoterKey) {
			t.Errorf("key of %d bytes: got %v, want ErrShortVoterKey", n, err)
		}
	}
	if _, err := NewVoterSigner(make([]byte, 64)); err != nil {
		t.Errorf("key of 64 bytes: got %v, want nil", err)
	}
}

func TestVoterSignerIssuesIDsItAccepts(t *testing.T) {
	s, err := NewVoterSigner(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		id := s.Issue()
		if len(id) != SignedVoterIDLen || !ValidVoterID(id) || !s.Check(id) {
			t.Fatalf("Issue() = %q (%d characters): ValidVoterID %v, Check %v; want %d characters, both true",
				id, len(id), ValidVoterID(id), s.Check(id), SignedVoterIDLen)
		}
		if seen[id] || seen[id[:VoterIDLen]] {
			t.Fatalf("Issue() repeated %q", id)
		}
		seen[id], seen[id[:VoterIDLen]] = true, true
	}
	// The same key in another signer (another vote server) accepts them.
	other, _ := NewVoterSigner(testKey(1))
	if id := s.Issue(); !other.Check(id) {
		t.Errorf("a signer of the same key refused %q", id)
	}
}

// alter changes the character at i to another of the alphabet.
func alter(id string, i int) string {
	c := byte('A')
	if id[i] == 'A' {
		c = 'B'
	}
	return id[:i] + string(c) + id[i+1:]
}

func TestVoterSignerRefuses(t *testing.T) {
	s, _ := NewVoterSigner(testKey(1))
	other, _ := NewVoterSigner(testKey(2))
	id := s.Issue()
	tests := []struct {
		name string
		id   string
	}{
		{"empty", ""},
		{"made up", "abcXYZ019-_abcXYZ019-_.0123456789abcDEF"},
		{"version 1", NewVoterID()},
		{"random part of a good id", id[:VoterIDLen]},
		{"first character changed", alter(id, 0)},
		{"last character of the random part changed", alter(id, VoterIDLen-1)},
		{"first character of the MAC changed", alter(id, VoterIDLen+1)},
		{"last character of the MAC changed", alter(id, len(id)-1)},
		{"dot replaced", id[:VoterIDLen] + "_" + id[VoterIDLen+1:]},
		{"MAC of another id", id[:VoterIDLen] + s.Issue()[VoterIDLen:]},
		{"issued with another key", other.Issue()},
		{"one character more", id + "A"},
		{"one character less", id[:len(id)-1]},
		{"upper-cased", strings.ToUpper(id)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.id == id {
				t.Fatalf("the case did not change the id %q", id)
			}
			if s.Check(tt.id) {
				t.Errorf("Check(%q) = true, want false", tt.id)
			}
		})
	}
	if !s.Check(id) {
		t.Errorf("Check(%q) of its own id = false, want true", id)
	}
}

func TestVoterSignerSame(t *testing.T) {
	key := testKey(3)
	s, _ := NewVoterSigner(key)
	key[0] = 9 // the signer keeps its own copy
	if s.Same(key) || !s.Same(testKey(3)) {
		t.Errorf("Same: got %v for another key and %v for its own, want false and true", s.Same(key), s.Same(testKey(3)))
	}
}

func BenchmarkVoterSignerCheck(b *testing.B) {
	s, _ := NewVoterSigner(testKey(1))
	id := s.Issue()
	b.ReportAllocs()
	for b.Loop() {
		if !s.Check(id) {
			b.Fatal("refused its own id")
		}
	}
}
