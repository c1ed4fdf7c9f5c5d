// Package tally defines the tally object: the same JSON on NATS, on the
// result server's WebSocket and at its tally routes, one per poll.
package tally

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"livevote/shared/poll"
)

// DefaultSubject is the NATS subject prefix of the tallies: poll p's go to
// "<subject>.<p>", the default poll's also to "<subject>" itself.
const DefaultSubject = "tally.changed"

// Subject is the NATS subject of pollID's tallies under base.
func Subject(base, pollID string) string { return base + "." + pollID }

// Wildcard is the NATS subject that matches every poll's tallies under base.
func Wildcard(base string) string { return base + ".>" }

// PollFromSubject returns the poll id of a subject made by Subject, and
// whether subject is one.
func PollFromSubject(base, subject string) (string, bool) {
	id, ok := strings.CutPrefix(subject, base+".")
	return id, ok && poll.ValidID(id)
}

// timeLayout is RFC 3339 in UTC with milliseconds, as in the contract's example.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Tally is the count of current votes per option of one poll at one
// version. Build one with New so that every option is present and Total is
// their sum.
type Tally struct {
	// Poll is the poll's id.
	Poll string
	// Version increases with every committed change to the poll's tally.
	Version int64
	// Counts has every option id of the poll.
	Counts map[string]int64
	// Total is the sum of Counts.
	Total int64
	// State is poll.StateOpen or poll.StateClosed.
	State string
	// UpdatedAt is when the version was committed, in UTC.
	UpdatedAt time.Time
	// Epoch names the database history that produced the tally (see
	// schema.Epoch): it changes when that history does (a restore, a new
	// database), and only then may a consumer take a lower version. Empty
	// in a tally of a producer that predates it.
	Epoch string
}

// ErrMalformed reports a tally that does not decode or cannot be true.
var ErrMalformed = errors.New("tally: malformed")

// New returns pollID's tally at version: every id of options is in Counts
// (0 when counts lacks it), Total is the sum, updatedAt is kept to the
// millisecond in UTC and an empty state means open.
func New(pollID string, version int64, options []string, counts map[string]int64, state string, updatedAt time.Time) Tally {
	if state == "" {
		state = poll.StateOpen
	}
	t := Tally{
		Poll:      pollID,
		Version:   version,
		Counts:    make(map[string]int64, max(len(options), len(counts))),
		State:     state,
		UpdatedAt: updatedAt.UTC().Truncate(time.Millisecond),
	}
	for _, o := range options {
		t.Counts[o] = 0
	}
	for o, n := range counts {
		t.Counts[o] = n
	}
	for _, n := range t.Counts {
		t.Total += n
	}
	return t
}

// Empty returns p's tally before any vote: version 0, every count 0.
func Empty(p poll.Poll) Tally {
	return New(p.ID, 0, p.OptionIDs(), nil, p.State, time.Unix(0, 0))
}

// Newer reports whether t should replace current: consumers keep the
// highest version they have seen within one epoch. Whether a tally of
// another epoch may replace current is the consumer's to decide (the
// result server believes only the database's epoch).
func (t Tally) Newer(current Tally) bool {
	return t.Epoch == current.Epoch && t.Version > current.Version
}

// Closed reports whether the poll was closed at this version.
func (t Tally) Closed() bool { return t.State == poll.StateClosed }

// Options returns the option ids of Counts in order (a, b, c, …).
func (t Tally) Options() []string {
	ids := make([]string, 0, len(t.Counts))
	for o := range t.Counts {
		ids = append(ids, o)
	}
	slices.Sort(ids)
	return ids
}

// Percentages returns each option's share of Total in whole percent, in
// the order of options. The shares of the options add up to 100 (largest
// remainder, first option first on ties), or are all 0 before any vote.
func (t Tally) Percentages(options []string) []int {
	p := make([]int, len(options))
	if t.Total <= 0 {
		return p
	}
	rem := make([]int64, len(options))
	sum := 0
	for i, o := range options {
		// count*100 in 128 bits: a count near 2^63 (a forged tally's)
		// would overflow int64. A count is at most the total, so the
		// quotient is at most 100.
		n := max(t.Counts[o], 0)
		hi, lo := bits.Mul64(uint64(n), 100)
		if hi >= uint64(t.Total) {
			// Only counts over the total (never in a tally of New's).
			p[i], rem[i] = 100, 0
		} else {
			q, r := bits.Div64(hi, lo, uint64(t.Total))
			p[i], rem[i] = int(q), int64(r)
		}
		sum += p[i]
	}
	// Hand the points lost to rounding down to the largest remainders, so
	// the figures always add up to 100.
	for ; sum < 100 && len(options) > 0; sum++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		if rem[best] <= 0 {
			break
		}
		p[best]++
		rem[best] = -1
	}
	return p
}

// AppendJSON appends t's JSON encoding to dst, options in order.
func (t Tally) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"poll":`...)
	dst = strconv.AppendQuote(dst, t.Poll)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, t.Version, 10)
	dst = append(dst, `,"counts":{`...)
	for i, o := range t.Options() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, o)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, t.Counts[o], 10)
	}
	dst = append(dst, `},"total":`...)
	dst = strconv.AppendInt(dst, t.Total, 10)
	dst = append(dst, `,"state":`...)
	dst = strconv.AppendQuote(dst, t.State)
	dst = append(dst, `,"updated_at":"`...)
	dst = t.UpdatedAt.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, '"')
	if t.Epoch != "" {
		// Last, so that the fields of version 1 keep their places.
		dst = append(dst, `,"epoch":`...)
		dst = strconv.AppendQuote(dst, t.Epoch)
	}
	return append(dst, '}')
}

// MarshalJSON encodes t as the contract's tally object.
func (t Tally) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(make([]byte, 0, 160)), nil
}

type wireTally struct {
	Poll      *string          `json:"poll"`
	Version   *int64           `json:"version"`
	Counts    map[string]int64 `json:"counts"`
	Total     int64            `json:"total"`
	State     string           `json:"state"`
	UpdatedAt time.Time        `json:"updated_at"`
	Epoch     string           `json:"epoch"`
}

// MaxEpochLen bounds the epochs a consumer accepts; schema.Epoch makes
// 12 characters.
const MaxEpochLen = 32

// maxOptionKey bounds the option ids a consumer accepts: ids it does not
// know are fine, garbage is not.
const maxOptionKey = 16

// UnmarshalJSON decodes a tally object and checks that it can be true: a
// poll id (a tally of version 1 had none: it is the default poll's), a
// version, option ids of a sane shape, no negative count, a total that is
// the counts' sum without overflow, a known state and an epoch of a sane
// shape (none is fine: a producer older than epochs).
func (t *Tally) UnmarshalJSON(b []byte) error {
	var w wireTally
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	id := poll.DefaultID
	if w.Poll != nil {
		id = *w.Poll
	}
	if !poll.ValidID(id) {
		return fmt.Errorf("%w: poll %.48q is not a poll id", ErrMalformed, id)
	}
	if w.Version == nil || *w.Version < 0 {
		return fmt.Errorf("%w: missing or negative version", ErrMalformed)
	}
	var sum int64
	for o, n := range w.Counts {
		if !validOptionKey(o) {
			return fmt.Errorf("%w: option %.24q is not an option id", ErrMalformed, o)
		}
		if n < 0 {
			return fmt.Errorf("%w: negative count for %q", ErrMalformed, o)
		}
		if sum > math.MaxInt64-n {
			return fmt.Errorf("%w: counts overflow", ErrMalformed)
		}
		sum += n
	}
	if sum != w.Total {
		return fmt.Errorf("%w: total %d is not the sum of counts %d", ErrMalformed, w.Total, sum)
	}
	switch w.State {
	case "", poll.StateOpen, poll.StateClosed:
	default:
		return fmt.Errorf("%w: state %.16q is neither open nor closed", ErrMalformed, w.State)
	}
	if y := w.UpdatedAt.UTC().Year(); y < 0 || y > 9999 {
		// RFC 3339 has no other years: its own encoding would be refused.
		return fmt.Errorf("%w: updated_at outside the years 0 to 9999 in UTC", ErrMalformed)
	}
	if !ValidEpoch(w.Epoch) {
		return fmt.Errorf("%w: epoch %.40q is not an epoch", ErrMalformed, w.Epoch)
	}
	*t = New(id, *w.Version, nil, w.Counts, w.State, w.UpdatedAt)
	t.Epoch = w.Epoch
	return nil
}

// ValidEpoch reports whether s has the shape of an epoch: empty (none),
// or up to MaxEpochLen letters, digits, '-' and '_'.
func ValidEpoch(s string) bool {
	if len(s) > MaxEpochLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validOptionKey(s string) bool {
	if s == "" || len(s) > maxOptionKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
