// Package tally defines the tally object: the same JSON on NATS, on the
// result server's WebSocket and at its /api/tally.
package tally

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"livevote/shared/ballot"
)

// DefaultSubject is the NATS subject the worker publishes tallies on.
const DefaultSubject = "tally.changed"

// timeLayout is RFC 3339 in UTC with milliseconds, as in the contract's example.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Tally is the count of current votes per option at one version.
// Build one with New so that every option is present and Total is their sum.
type Tally struct {
	// Version strictly increases with every committed change.
	Version int64
	// Counts has every option id of ballot.Options.
	Counts map[string]int64
	// Total is the sum of Counts.
	Total int64
	// UpdatedAt is when the version was committed, in UTC.
	UpdatedAt time.Time
}

// ErrMalformed reports a tally that does not decode or is inconsistent.
var ErrMalformed = errors.New("tally: malformed")

// New returns the tally at version with the given counts: options missing
// from counts get 0, Total is their sum and updatedAt is kept to the
// millisecond in UTC.
func New(version int64, counts map[string]int64, updatedAt time.Time) Tally {
	t := Tally{
		Version:   version,
		Counts:    make(map[string]int64, len(ballot.Options)),
		UpdatedAt: updatedAt.UTC().Truncate(time.Millisecond),
	}
	for _, o := range ballot.Options {
		n := counts[o]
		t.Counts[o] = n
		t.Total += n
	}
	return t
}

// Empty returns the tally before any vote: version 0, every count 0.
func Empty() Tally {
	return New(0, nil, time.Unix(0, 0))
}

// Newer reports whether t should replace current: consumers keep the
// highest version they have seen.
func (t Tally) Newer(current Tally) bool {
	return t.Version > current.Version
}

// Percentages returns each option's share of Total in whole percent, in
// ballot.Options order. The shares add up to 100 (largest remainder), or
// are all 0 when nobody has voted.
func (t Tally) Percentages() []int {
	p := make([]int, len(ballot.Options))
	if t.Total <= 0 {
		return p
	}
	rem := make([]int64, len(ballot.Options))
	sum := 0
	for i, o := range ballot.Options {
		scaled := t.Counts[o] * 100
		p[i] = int(scaled / t.Total)
		rem[i] = scaled % t.Total
		sum += p[i]
	}
	// Hand the points lost to rounding down to the largest remainders,
	// first option first on ties, so the figures always add up to 100.
	for ; sum < 100; sum++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		p[best]++
		rem[best] = -1
	}
	return p
}

// AppendJSON appends t's JSON encoding to dst, options in ballot.Options
// order.
func (t Tally) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendInt(dst, t.Version, 10)
	dst = append(dst, `,"counts":{`...)
	for i, o := range ballot.Options {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, o)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, t.Counts[o], 10)
	}
	dst = append(dst, `},"total":`...)
	dst = strconv.AppendInt(dst, t.Total, 10)
	dst = append(dst, `,"updated_at":"`...)
	dst = t.UpdatedAt.UTC().AppendFormat(dst, timeLayout)
	return append(dst, `"}`...)
}

// MarshalJSON encodes t as the contract's tally object.
func (t Tally) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(make([]byte, 0, 128)), nil
}

type wireTally struct {
	Version   *int64           `json:"version"`
	Counts    map[string]int64 `json:"counts"`
	Total     int64            `json:"total"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// UnmarshalJSON decodes a tally object and checks it: a version, no
// negative count, no unknown option, and a total that is the counts' sum.
func (t *Tally) UnmarshalJSON(b []byte) error {
	var w wireTally
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if w.Version == nil || *w.Version < 0 {
		return fmt.Errorf("%w: missing or negative version", ErrMalformed)
	}
	for o, n := range w.Counts {
		if !ballot.ValidOption(o) {
			return fmt.Errorf("%w: unknown option %q", ErrMalformed, o)
		}
		if n < 0 {
			return fmt.Errorf("%w: negative count for %q", ErrMalformed, o)
		}
	}
	decoded := New(*w.Version, w.Counts, w.UpdatedAt)
	if decoded.Total != w.Total {
		return fmt.Errorf("%w: total %d is not the sum of counts %d", ErrMalformed, w.Total, decoded.Total)
	}
	*t = decoded
	return nil
}
