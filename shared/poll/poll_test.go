package poll

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	labels := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "Option " + OptionID(i)
		}
		return out
	}
	tests := []struct {
		name     string
		question string
		labels   []string
		wantErr  string
	}{
		{"two options", "Cats or dogs?", []string{"Cats", "Dogs"}, ""},
		{"twelve options", "Which?", labels(12), ""},
		{"trimmed", "  Tea?  ", []string{" Tea ", "Coffee"}, ""},
		{"question of 200", long(200), []string{"a", "b"}, ""},
		{"label of 80", "Q", []string{long(80), "b"}, ""},
		{"accents count as one character", strings.Repeat("é", 200), []string{"Sí", "No"}, ""},
		{"one option", "Q", []string{"Only"}, "1 options"},
		{"thirteen options", "Q", labels(13), "13 options"},
		{"empty question", "   ", []string{"a", "b"}, "question is empty"},
		{"question of 201", long(201), []string{"a", "b"}, "201 characters"},
		{"empty label", "Q", []string{"a", " "}, "option 2 is empty"},
		{"label of 81", "Q", []string{"a", long(81)}, "option 2 has 81"},
		{"duplicate, case-insensitive", "Q", []string{"Red", "Green", "red "}, "options 1 and 3 are the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New("q7k2m9xa", tt.question, tt.labels, time.Now())
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want ErrInvalid saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Options) != len(tt.labels) || p.State != StateOpen {
				t.Fatalf("got %+v, want %d options, open", p, len(tt.labels))
			}
			for i, o := range p.Options {
				if o.ID != OptionID(i) || o.Label != strings.TrimSpace(tt.labels[i]) {
					t.Errorf("option %d: got %+v, want id %s label %q", i, o, OptionID(i), strings.TrimSpace(tt.labels[i]))
				}
			}
			if p.Question != strings.TrimSpace(tt.question) {
				t.Errorf("question %q, want it trimmed", p.Question)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"default", true}, {"q7k2m9xa", true}, {"a", true}, {"0-x", true}, {strings.Repeat("a", 40), true},
		{"", false}, {"-a", false}, {"A", false}, {"a_b", false}, {"a.b", false}, {"a/b", false},
		{strings.Repeat("a", 41), false}, {"é", false},
	} {
		if got := ValidID(tt.in); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for i := 0; i < 1000; i++ {
		if id := NewID(); !ValidID(id) || len(id) != idLen {
			t.Fatalf("NewID() = %q, not a valid id of %d characters", id, idLen)
		}
	}
}

func TestValidOptionID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{{"a", true}, {"l", true}, {"m", false}, {"A", false}, {"", false}, {"ab", false}} {
		if got := ValidOptionID(tt.in); got != tt.want {
			t.Errorf("ValidOptionID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDefault(t *testing.T) {
	p := Default("Cats", "Dogs")
	if p.ID != DefaultID || p.Question != "Cats vs Dogs!" || p.Label("a") != "Cats" || p.Label("b") != "Dogs" || p.HasOption("c") {
		t.Errorf("got %+v, want the Cats vs Dogs poll with options a and b", p)
	}
}

func TestTokens(t *testing.T) {
	tok := NewManageToken()
	r := Record{TokenHash: HashToken(tok)}
	if !r.TokenMatches(tok) {
		t.Error("the poll's own token does not match")
	}
	for _, bad := range []string{"", NewManageToken(), tok + "x", tok[:len(tok)-1]} {
		if r.TokenMatches(bad) {
			t.Errorf("token %q matches, want no match", bad)
		}
	}
	if (Record{}).TokenMatches("") || (Record{}).TokenMatches(tok) {
		t.Error("a poll without a token hash matched a token")
	}
}
