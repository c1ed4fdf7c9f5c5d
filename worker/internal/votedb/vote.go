package votedb

import (
	"fmt"
	"strconv"
	"strings"

	"livevote/shared/poll"
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

// Vote is one accepted vote in one poll.
type Vote struct {
	Poll    string
	VoterID string
	Option  string
	Seq     Seq
}

// ballotKey names a ballot: one per voter per poll.
type ballotKey struct{ poll, voter string }

// Latest returns each voter's last vote in each poll from votes, in the
// order of first appearance; it reuses votes' storage. A voter's later vote
// wins whatever order the entries came in; votes in different polls never
// replace each other.
func Latest(votes []Vote) []Vote {
	at := make(map[ballotKey]int, len(votes))
	out := votes[:0]
	for _, v := range votes {
		k := ballotKey{v.Poll, v.VoterID}
		i, seen := at[k]
		switch {
		case !seen:
			at[k] = len(out)
			out = append(out, v)
		case out[i].Seq.Less(v.Seq):
			out[i] = v
		}
	}
	return out
}

// StateChange is a close or reopen of a poll.
type StateChange struct {
	Poll string
	// State is poll.StateOpen or poll.StateClosed.
	State string
	Seq   Seq
}

// Batch is what one read of the stream asks of the database.
type Batch struct {
	// Creates are new polls, each id once.
	Creates []poll.Record
	// Votes hold at most one vote per voter per poll (see Latest).
	Votes []Vote
	// States are the closes and reopens in stream order.
	States []StateChange
}

// Len is how many things b asks for.
func (b Batch) Len() int { return len(b.Creates) + len(b.Votes) + len(b.States) }

// String is the stream entry id s was parsed from.
func (s Seq) String() string {
	return strconv.FormatUint(s.Ms, 10) + "-" + strconv.FormatUint(s.N, 10)
}
