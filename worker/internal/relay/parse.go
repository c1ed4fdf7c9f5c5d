package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
	"livevote/worker/internal/votedb"
)

// errInvalid is wrapped by every reason an entry is dropped.
var errInvalid = errors.New("relay: invalid stream entry")

// addEntry parses one stream entry written by a vote server into b. An
// entry that cannot be parsed can never become valid: the caller drops it.
func addEntry(b *votedb.Batch, m redis.XMessage) error {
	seq, err := votedb.ParseSeq(m.ID)
	if err != nil {
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	field := func(k string) string { s, _ := m.Values[k].(string); return s }
	pollID := field(ballot.FieldPoll)
	op := field(ballot.FieldOp)
	if pollID == "" && op == "" {
		pollID = poll.DefaultID // a vote of version 1
	}
	if !poll.ValidID(pollID) {
		return fmt.Errorf("%w: poll %.48q is not a poll id", errInvalid, pollID)
	}
	switch op {
	case "":
		voter, option := field(ballot.FieldVoter), field(ballot.FieldVote)
		if !ballot.ValidVoterID(voter) {
			return fmt.Errorf("%w: voter %.48q is not a voter id", errInvalid, voter)
		}
		if !poll.ValidOptionID(option) {
			return fmt.Errorf("%w: %w: %.16q", errInvalid, ballot.ErrInvalidOption, option)
		}
		b.Votes = append(b.Votes, votedb.Vote{Poll: pollID, VoterID: voter, Option: option, Seq: seq})
	case ballot.OpCreate:
		rec, err := parseDef(pollID, field(ballot.FieldDef))
		if err != nil {
			return err
		}
		b.Creates = append(b.Creates, rec)
	case ballot.OpClose:
		b.States = append(b.States, votedb.StateChange{Poll: pollID, State: poll.StateClosed, Seq: seq})
	case ballot.OpReopen:
		b.States = append(b.States, votedb.StateChange{Poll: pollID, State: poll.StateOpen, Seq: seq})
	default:
		return fmt.Errorf("%w: unknown op %.16q", errInvalid, op)
	}
	return nil
}

// parseDef reads a create's poll record and checks it against the rules a
// person's definition follows, so that the database's constraints never
// refuse it (which would fail the whole batch, again and again).
func parseDef(pollID, def string) (poll.Record, error) {
	var rec poll.Record
	if err := json.Unmarshal([]byte(def), &rec); err != nil {
		return rec, fmt.Errorf("%w: poll definition: %w", errInvalid, err)
	}
	if rec.ID != pollID {
		return rec, fmt.Errorf("%w: definition of %.48q in an entry of %s", errInvalid, rec.ID, pollID)
	}
	labels := make([]string, len(rec.Options))
	for i, o := range rec.Options {
		labels[i] = o.Label
	}
	// PostgreSQL's text cannot hold a NUL: such a poll would fail its batch
	// for ever.
	if strings.ContainsRune(rec.Question+strings.Join(labels, ""), 0) {
		return rec, fmt.Errorf("%w: a NUL character in the definition", errInvalid)
	}
	p, err := poll.New(rec.ID, rec.Question, labels, rec.CreatedAt)
	if err != nil {
		return rec, fmt.Errorf("%w: %w", errInvalid, err)
	}
	if !slices.Equal(p.OptionIDs(), rec.OptionIDs()) {
		return rec, fmt.Errorf("%w: option ids %v, want %v", errInvalid, rec.OptionIDs(), p.OptionIDs())
	}
	if !validHash(rec.TokenHash) {
		return rec, fmt.Errorf("%w: token hash is not a SHA-256 in hex", errInvalid)
	}
	return poll.Record{Poll: p, TokenHash: rec.TokenHash}, nil
}

// validHash reports whether h is empty or 64 lower-case hex digits.
func validHash(h string) bool {
	if h == "" {
		return true
	}
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if !(h[i] >= '0' && h[i] <= '9' || h[i] >= 'a' && h[i] <= 'f') {
			return false
		}
	}
	return true
}
