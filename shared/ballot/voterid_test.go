package ballot

import "testing"

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
