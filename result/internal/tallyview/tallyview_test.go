package tallyview

import (
	"testing"
	"time"

	"livevote/shared/tally"
)

func TestOfferKeepsHighestVersion(t *testing.T) {
	var heard []int64
	v := New(func(t tally.Tally, b []byte) { heard = append(heard, t.Version) })
	at := time.Now()
	steps := []struct {
		version  int64
		accepted bool
	}{
		{0, true}, // the first real tally, even at version 0, is news
		{3, true},
		{2, false},
		{3, false},
		{5, true},
		{4, false},
	}
	for _, s := range steps {
		if got := v.Offer(tally.New(s.version, map[string]int64{"a": s.version}, at)); got != s.accepted {
			t.Errorf("Offer(version %d) = %v, want %v", s.version, got, s.accepted)
		}
	}
	cur, enc := v.Current()
	if cur.Version != 5 || cur.Counts["a"] != 5 {
		t.Errorf("current %+v, want version 5", cur)
	}
	if string(enc) != string(cur.AppendJSON(nil)) {
		t.Errorf("encoded %s does not match current", enc)
	}
	if want := []int64{0, 3, 5}; len(heard) != len(want) || heard[0] != 0 || heard[1] != 3 || heard[2] != 5 {
		t.Errorf("listener heard %v, want %v", heard, want)
	}
}

func TestNotLoadedUntilOffered(t *testing.T) {
	v := New(nil)
	if v.Loaded() {
		t.Fatal("Loaded() before any offer")
	}
	v.Offer(tally.New(1, nil, time.Now()))
	if !v.Loaded() {
		t.Fatal("not Loaded() after an offer")
	}
}
