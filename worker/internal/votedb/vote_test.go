package votedb

import (
	"reflect"
	"testing"
)

func TestParseSeq(t *testing.T) {
	tests := []struct {
		in   string
		want Seq
		ok   bool
	}{
		{"1700000000000-0", Seq{1700000000000, 0}, true},
		{"1-18", Seq{1, 18}, true},
		{"1700000000000", Seq{}, false},
		{"a-1", Seq{}, false},
		{"1-b", Seq{}, false},
		{"-1-1", Seq{}, false},
		{"", Seq{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSeq(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSeq(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSeqLess(t *testing.T) {
	tests := []struct {
		name string
		a, b Seq
		want bool
	}{
		{"earlier ms", Seq{1, 9}, Seq{2, 0}, true},
		{"same ms lower n", Seq{2, 0}, Seq{2, 1}, true},
		{"equal", Seq{2, 1}, Seq{2, 1}, false},
		{"later", Seq{3, 0}, Seq{2, 5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Less(tt.b); got != tt.want {
				t.Errorf("%v.Less(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestLatest(t *testing.T) {
	v := func(id, opt string, ms uint64) Vote {
		return Vote{Poll: "p", VoterID: id, Option: opt, Seq: Seq{Ms: ms}}
	}
	w := func(id, opt string, ms uint64) Vote {
		return Vote{Poll: "w", VoterID: id, Option: opt, Seq: Seq{Ms: ms}}
	}
	tests := []struct {
		name string
		in   []Vote
		want []Vote
	}{
		{"empty", nil, []Vote{}},
		{"distinct voters kept in order", []Vote{v("x", "a", 1), v("y", "b", 2)}, []Vote{v("x", "a", 1), v("y", "b", 2)}},
		{"change of mind keeps last", []Vote{v("x", "a", 1), v("x", "b", 2), v("x", "a", 3)}, []Vote{v("x", "a", 3)}},
		{"reordered entries keep the later seq", []Vote{v("x", "b", 5), v("y", "a", 1), v("x", "a", 4)}, []Vote{v("x", "b", 5), v("y", "a", 1)}},
		{"duplicate delivery", []Vote{v("x", "a", 1), v("x", "a", 1)}, []Vote{v("x", "a", 1)}},
		{"one voter in two polls keeps both", []Vote{v("x", "a", 1), w("x", "b", 2), v("x", "b", 3)}, []Vote{v("x", "b", 3), w("x", "b", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Vote(nil), tt.in...)
			got := Latest(in)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
