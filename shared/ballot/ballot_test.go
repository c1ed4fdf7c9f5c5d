package ballot

import (
	"errors"
	"testing"
)

func TestCheckOption(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"a", "a", true},
		{"b", "b", true},
		{"upper case", "A", false},
		{"empty", "", false},
		{"label", "Cats", false},
		{"padded", " a", false},
		{"third option", "c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOption(tt.in)
			if got := err == nil; got != tt.ok {
				t.Fatalf("CheckOption(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidOption) {
				t.Errorf("CheckOption(%q) = %v, want it to wrap ErrInvalidOption", tt.in, err)
			}
		})
	}
}

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
		{"made here", "AAAAAAAAAAAAAAAAAAAAAA", true},
		{"url alphabet", "abcXYZ019-_abcXYZ019-_", true},
		{"empty", "", false},
		{"short", "AAAA", false},
		{"long", "AAAAAAAAAAAAAAAAAAAAAAA", false},
		{"padding", "AAAAAAAAAAAAAAAAAAAAA=", false},
		{"std alphabet", "AAAAAAAAAAAAAAAAAAAAA+", false},
		{"quote", "AAAAAAAAAAAAAAAAAAAAA\"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidVoterID(tt.in); got != tt.want {
				t.Errorf("ValidVoterID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
