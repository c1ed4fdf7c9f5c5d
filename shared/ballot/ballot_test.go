package ballot

import "testing"

func TestPollKey(t *testing.T) {
	if got, want := PollKey("votes", "q7k2m9xa"), "votes:poll:q7k2m9xa"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
