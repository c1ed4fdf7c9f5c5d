// Package ballot defines what a vote is on the wire: the voter id format,
// the JSON request and response of the vote API, the fields of the entries
// of the Redis stream and the keys of the vote servers' copy of each poll.
package ballot

import "errors"

// DefaultStream is the Redis stream key votes are appended to.
const DefaultStream = "votes"

// Fields of a stream entry, written by the vote server and read by the
// worker. A vote has FieldPoll, FieldVoter and FieldVote (an entry of
// version 1 had no FieldPoll: it is a vote in the default poll). A poll
// command has FieldOp and FieldPoll, and a create has FieldDef too.
const (
	FieldPoll  = "poll"
	FieldVoter = "voter"
	FieldVote  = "vote"
	FieldOp    = "op"
	FieldDef   = "def"
)

// The poll commands of the stream, in FieldOp.
const (
	OpCreate = "create" // FieldDef holds the poll.Record as JSON
	OpClose  = "close"
	OpReopen = "reopen"
)

// Fields of the Redis poll copy (Shards.PollKey).
const (
	// PollDef is the poll.Record as JSON, written once when the poll is
	// created (or restored by the worker from PostgreSQL).
	PollDef = "def"
	// PollState is "open" or "closed", changed by the vote server in the
	// same script that appends the close or reopen to the stream.
	PollState = "state"
	// PollStateAt is the stream id of the state command PollState comes
	// from, on the poll's home shard: a copy on another shard takes a state
	// only from a later command, so concurrent closes and reopens leave
	// every shard's copy in the home shard's state.
	PollStateAt = "state_at"
	// PollTally is the last committed tally as JSON, kept by the worker
	// (PollTallyVersion is its version and PollTallyEpoch its epoch: an
	// older version of the same epoch never replaces it, a tally of
	// another epoch always does, since the database's history changed).
	PollTally        = "tally"
	PollTallyVersion = "tally_version"
	PollTallyEpoch   = "tally_epoch"
)

// ErrInvalidOption reports a vote that is not an option of its poll.
var ErrInvalidOption = errors.New("ballot: not an option of the poll")

// Request is the JSON body of POST /api/vote and POST /api/polls/{id}/votes.
type Request struct {
	Vote string `json:"vote"`
}

// Accepted is the JSON answer to a vote once Redis holds it; Poll is empty
// on version 1's POST /api/vote.
type Accepted struct {
	VoterID string `json:"voter_id"`
	Poll    string `json:"poll,omitempty"`
	Vote    string `json:"vote"`
}
