package hub

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/tally"
)

// longAgo is when a read of the database began that began before
// anything else.
var longAgo time.Time

// step is one tally reaching the hub: live (Offer, from NATS) or read
// from the database (Stored, a read of every held poll).
type step struct {
	name   string
	stored bool
	t      tally.Tally
	// want is Offer's outcome for a live tally.
	want Outcome
	// version and epoch are the poll's tally after the step.
	version int64
	epoch   string
}

// TestEpochRules: within the database's epoch the highest version wins;
// only a read of the database switches epochs, and then its tally wins
// whatever its version; a live tally of another epoch, or one far beyond
// the database's version, is refused. A client sees every tally taken, in
// order, lower versions of a new epoch included.
func TestEpochRules(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()), "p")
	if got := h.Offer(tle("p", 1, "e1")); got != OtherEpoch {
		t.Fatalf("a live tally before any read of the database: got %v, want OtherEpoch", got)
	}
	if !h.Stored(map[string]tally.Tally{"p": tle("p", 10, "e1")}, true, longAgo) {
		t.Fatal("the first read did not set the epoch")
	}
	c := newFakeConn(false)
	defer close(c.closed)
	go h.Serve(c, "p")
	waitWrites(t, c, 1)

	steps := []step{
		{name: "same epoch, lower version", t: tle("p", 9, "e1"), want: Stale, version: 10, epoch: "e1"},
		{name: "same epoch, same version", t: tle("p", 10, "e1"), want: Stale, version: 10, epoch: "e1"},
		{name: "same epoch, higher version", t: tle("p", 11, "e1"), want: Taken, version: 11, epoch: "e1"},
		{name: "live tally of another epoch, lower", t: tle("p", 1, "e2"), want: OtherEpoch, version: 11, epoch: "e1"},
		{name: "live tally of another epoch, higher", t: tle("p", 99, "e2"), want: OtherEpoch, version: 11, epoch: "e1"},
		{name: "live tally with no epoch (a worker older than epochs)", t: tle("p", 50, ""), want: OtherEpoch, version: 11, epoch: "e1"},
		{name: "far beyond the database's version", t: tle("p", 10+MaxAhead+1, "e1"), want: TooFarAhead, version: 11, epoch: "e1"},
		{name: "the database's next version", stored: true, t: tle("p", 12, "e1"), version: 12, epoch: "e1"},
		{name: "a read that began before the last commit", stored: true, t: tle("p", 11, "e1"), version: 12, epoch: "e1"},
		{name: "up to MaxAhead beyond the last read", t: tle("p", 11+MaxAhead, "e1"), want: Taken, version: 11 + MaxAhead, epoch: "e1"},
		{name: "restored: the database's lower version of another epoch", stored: true, t: tle("p", 3, "e2"), version: 3, epoch: "e2"},
		{name: "the old history's live tally, late", t: tle("p", 13, "e1"), want: OtherEpoch, version: 3, epoch: "e2"},
		{name: "the restored history goes on live", t: tle("p", 4, "e2"), want: Taken, version: 4, epoch: "e2"},
	}
	for _, st := range steps {
		before, _, _ := h.Current("p")
		if st.stored {
			h.Stored(map[string]tally.Tally{"p": st.t}, true, longAgo)
		} else if got := h.Offer(st.t); got != st.want {
			t.Errorf("%s: Offer got %v, want %v", st.name, got, st.want)
		}
		cur, _, ok := h.Current("p")
		if !ok || cur.Version != st.version || cur.Epoch != st.epoch {
			t.Errorf("%s: holds version %d of %q, want %d of %q", st.name, cur.Version, cur.Epoch, st.version, st.epoch)
		}
		if cur.Version != before.Version || cur.Epoch != before.Epoch {
			waitWrites(t, c, 1)
			if w := c.writes(); !bytes.Equal(w[len(w)-1], h.latest("p")) {
				t.Errorf("%s: the client's last message is not the tally taken", st.name)
			}
		}
	}
	if n := len(c.writes()); n != 6 {
		t.Errorf("the client got %d messages, want 6 (versions 10, 11, 12, %d, 3 and 4)", n, 11+MaxAhead)
	}
}

// TestImpossibleVersionBeforeAnyRead: a poll held but not read from the
// database yet measures MaxAhead from 0, so a tally of an impossible
// version is refused even then; a plausible one is taken, and after the
// read the same rule counts from the database's version.
func TestImpossibleVersionBeforeAnyRead(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()))
	readEpoch(h, "e1")
	h.Hold("p")
	if got := h.Offer(tle("p", 1<<40, "e1")); got != TooFarAhead {
		t.Fatalf("version 2^40 before any read of its poll: got %v, want TooFarAhead", got)
	}
	if got := h.Offer(tle("p", 7, "e1")); got != Taken {
		t.Fatalf("version 7 before any read of its poll: got %v, want Taken", got)
	}
	h.Stored(map[string]tally.Tally{"p": tle("p", 9, "e1")}, true, longAgo)
	if cur, _, _ := h.Current("p"); cur.Version != 9 {
		t.Errorf("after the read: holds version %d, want the database's 9", cur.Version)
	}
	if got := h.Offer(tle("p", 9+MaxAhead+1, "e1")); got != TooFarAhead {
		t.Errorf("MaxAhead+1 beyond the read: got %v, want TooFarAhead", got)
	}
}

// TestStoredOfAnotherEpoch: a read of every held poll in another epoch
// drops the old epoch's tally of a poll the database no longer has; a
// read of one poll in another epoch switches, says so (so the caller
// reads the others) and leaves the other polls' tallies, which live
// tallies of the new epoch then replace whatever their version.
func TestStoredOfAnotherEpoch(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()), "p", "q", "r")
	h.Stored(map[string]tally.Tally{"p": tle("p", 7, "e1"), "q": tle("q", 8, "e1"), "r": tle("r", 9, "e1")}, true, longAgo)

	if !h.Stored(map[string]tally.Tally{"p": tle("p", 2, "e2"), "r": tle("r", 3, "e2")}, true, longAgo) {
		t.Error("a read of another epoch did not report the switch")
	}
	if _, _, ok := h.Current("q"); ok {
		t.Error("q, which the restored database lacks, still has the old epoch's tally")
	}
	if cur, _, _ := h.Current("p"); cur.Version != 2 || cur.Epoch != "e2" {
		t.Errorf("p: got version %d of %q, want 2 of e2", cur.Version, cur.Epoch)
	}

	if !h.Stored(map[string]tally.Tally{"p": tle("p", 1, "e3")}, false, longAgo) {
		t.Error("a read of one poll of another epoch did not report the switch")
	}
	if cur, _, _ := h.Current("r"); cur.Version != 3 || cur.Epoch != "e2" {
		t.Errorf("r after a read of p only: got version %d of %q, want 3 of e2 kept", cur.Version, cur.Epoch)
	}
	if got := h.Offer(tle("r", 1, "e3")); got != Taken {
		t.Errorf("r's live tally of the new epoch at a lower version: got %v, want Taken", got)
	}
	if h.Stored(map[string]tally.Tally{"p": tle("p", 1, "e3")}, true, longAgo) {
		t.Error("a read of the same epoch reported a switch")
	}
}

// TestStoredReplacesALiveTallyTheDatabaseLacks: a live tally of the right
// epoch, a few versions ahead (as someone holding the worker's NATS
// password could publish), stays only until a read of the database that
// began after it arrived: the worker publishes only what it committed, so
// such a read finds that version or a later one, and finding a lower one
// means the tally was not the database's. A read that began before it
// arrived (and may have missed a true commit) leaves it.
func TestStoredReplacesALiveTallyTheDatabaseLacks(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()), "p")
	h.Stored(map[string]tally.Tally{"p": tle("p", 10, "e1")}, true, longAgo)
	readBefore := time.Now()
	if got := h.Offer(tle("p", 13, "e1")); got != Taken {
		t.Fatalf("a plausible live tally: got %v, want Taken", got)
	}
	h.Stored(map[string]tally.Tally{"p": tle("p", 11, "e1")}, true, readBefore)
	if cur, _, _ := h.Current("p"); cur.Version != 13 {
		t.Errorf("after a read that began before it arrived: holds version %d, want 13 kept", cur.Version)
	}
	h.Stored(map[string]tally.Tally{"p": tle("p", 11, "e1")}, true, time.Now())
	if cur, _, _ := h.Current("p"); cur.Version != 11 {
		t.Errorf("after a read that began after it arrived: holds version %d, want the database's 11", cur.Version)
	}
	// A true live tally is never undone that way: the database has it by
	// the time it arrives.
	if got := h.Offer(tle("p", 12, "e1")); got != Taken {
		t.Fatalf("the next true tally: got %v, want Taken", got)
	}
	h.Stored(map[string]tally.Tally{"p": tle("p", 12, "e1")}, true, time.Now())
	if cur, _, _ := h.Current("p"); cur.Version != 12 {
		t.Errorf("after reading the same version: holds %d, want 12", cur.Version)
	}
}
