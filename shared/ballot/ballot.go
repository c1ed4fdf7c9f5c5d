// Package ballot defines what a vote is on the wire: the option ids, the
// voter id format, the JSON request and response of the vote API and the
// fields of a vote entry in the Redis stream.
package ballot

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// The stored option ids. People see labels (OPTION_A, OPTION_B); the
// database, the stream and the tally only ever hold these.
const (
	OptionA = "a"
	OptionB = "b"
)

// Options lists every option id in display order.
var Options = [...]string{OptionA, OptionB}

// DefaultStream is the Redis stream key votes are appended to.
const DefaultStream = "votes"

// Stream entry field names written by the vote server and read by the worker.
const (
	FieldVoter = "voter"
	FieldVote  = "vote"
)

// ErrInvalidOption reports a vote that is not one of Options.
var ErrInvalidOption = errors.New("ballot: vote must be \"a\" or \"b\"")

// ErrInvalidVoterID reports a voter id that NewVoterID could not have made.
var ErrInvalidVoterID = errors.New("ballot: malformed voter id")

// ValidOption reports whether s is one of Options.
func ValidOption(s string) bool {
	return s == OptionA || s == OptionB
}

// CheckOption returns ErrInvalidOption, with the offending value, when s is
// not a valid option.
func CheckOption(s string) error {
	if !ValidOption(s) {
		return fmt.Errorf("%w, got %.32q", ErrInvalidOption, s)
	}
	return nil
}

// voterIDBytes of randomness make a voter id; 128 bits cannot be guessed.
const voterIDBytes = 16

// VoterIDLen is the length of every voter id made by NewVoterID.
var VoterIDLen = base64.RawURLEncoding.EncodedLen(voterIDBytes)

// NewVoterID returns a fresh random voter id (22 URL-safe characters).
func NewVoterID() string {
	var b [voterIDBytes]byte
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidVoterID reports whether s has the shape of an id from NewVoterID.
func ValidVoterID(s string) bool {
	if len(s) != VoterIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Request is the JSON body of POST /api/vote.
type Request struct {
	Vote string `json:"vote"`
}

// Accepted is the JSON answer of POST /api/vote once Redis holds the vote.
type Accepted struct {
	VoterID string `json:"voter_id"`
	Vote    string `json:"vote"`
}
