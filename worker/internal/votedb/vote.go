package votedb

import (
	"fmt"
	"strconv"
	"strings"
)

// Seq orders votes: the Redis stream entry id (milliseconds, sequence)
// that Redis gave the vote on acceptance.
type Seq struct {
	Ms, N uint64
}

// ParseSeq parses a stream entry id such as "1700000000000-3".
func ParseSeq(id string) (Seq, error) {
	msPart, nPart, ok := strings.Cut(id, "-")
	if !ok {
		return Seq{}, fmt.Errorf("stream id %q: want <ms>-<seq>", id)
	}
	ms, err := strconv.ParseUint(msPart, 10, 63)
	if err != nil {
		return Seq{}, fmt.Errorf("stream id %q: %w", id, err)
	}
	n, err := strconv.ParseUint(nPart, 10, 63)
	if err != nil {
		return Seq{}, fmt.Errorf("stream id %q: %w", id, err)
	}
	return Seq{Ms: ms, N: n}, nil
}

// Less reports whether s was accepted before o.
func (s Seq) Less(o Seq) bool {
	return s.Ms < o.Ms || (s.Ms == o.Ms && s.N < o.N)
}

// Vote is one accepted vote.
type Vote struct {
	VoterID string
	Option  string
	Seq     Seq
}

// Latest returns each voter's last vote from votes, in the order of first
// appearance; it reuses votes' storage. A voter's later vote wins whatever
// order the entries came in.
func Latest(votes []Vote) []Vote {
	at := make(map[string]int, len(votes))
	out := votes[:0]
	for _, v := range votes {
		i, seen := at[v.VoterID]
		switch {
		case !seen:
			at[v.VoterID] = len(out)
			out = append(out, v)
		case out[i].Seq.Less(v.Seq):
			out[i] = v
		}
	}
	return out
}
