package relay

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
	"livevote/worker/internal/votedb"
)

// fieldValue turns a fuzzed string into a stream field's value: mostly the
// string, as go-redis gives it, but also what no vote server writes (a
// number, nil, bytes, a list), selected by the kind byte.
func fieldValue(kind byte, s string) (any, bool) {
	switch kind % 8 {
	case 0:
		return nil, false // field absent
	case 1:
		return nil, true
	case 2:
		return int64(len(s)), true
	case 3:
		return []byte(s), true
	case 4:
		return []any{s}, true
	}
	return s, true
}

// FuzzAddEntry feeds stream entries to the worker's parser, fields and
// their types chosen by the fuzzer. An entry it accepts adds one vote,
// create, close or reopen whose poll, voter, option and definition are
// valid; one it refuses wraps errInvalid and adds nothing.
func FuzzAddEntry(f *testing.F) {
	p, err := poll.New("q1", "Lunch?", []string{"Pizza", "Soup"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	def, _ := json.Marshal(poll.Record{Poll: p, TokenHash: poll.HashToken("t")})
	const s = byte(7) // a string value
	voter := ballot.NewVoterID()
	signed := voter + ".0123456789abcDEF"
	// id, then kind and value of poll, op, voter, vote, def.
	f.Add("7-1", s, "q1", byte(0), "", s, voter, s, "b", byte(0), "")
	f.Add("7-1", s, "q1", byte(0), "", s, signed, s, "l", byte(0), "")
	f.Add("1700000000000-3", byte(0), "", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, string(def))
	f.Add("7-1", s, "q1", s, "close", byte(0), "", byte(0), "", byte(0), "")
	f.Add("7-1", s, "q1", s, "reopen", s, voter, s, "a", byte(0), "")
	f.Add("7-1", s, "q1", s, "delete", byte(0), "", byte(0), "", byte(0), "")
	f.Add("7-1", byte(0), "", s, "close", byte(0), "", byte(0), "", byte(0), "")
	f.Add("7", s, "q1", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("18446744073709551615-0", s, "q1", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("9223372036854775807-9223372036854775807", s, "q1", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("-1-1", s, "q1", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("7-1", s, "Q1", byte(0), "", s, voter, s, "a", byte(0), "")
	f.Add("7-1", s, "q1", byte(0), "", s, voter+"x", s, "a", byte(0), "")
	f.Add("7-1", s, "q1", byte(0), "", s, "'; DROP TABLE ballots; --", s, "a", byte(0), "")
	f.Add("7-1", s, "q1", byte(0), "", s, voter, s, "m", byte(0), "")
	f.Add("7-1", s, "q1", byte(0), "", byte(2), voter, byte(3), "a", byte(0), "")
	f.Add("7-1", byte(4), "q1", byte(1), "", s, voter, s, "a", byte(0), "")
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, strings.Replace(string(def), "Lunch?", `Lunch\u0000`, 1))
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, strings.Replace(string(def), `"b"`, `"c"`, 1))
	f.Add("7-1", s, "q2", s, "create", byte(0), "", byte(0), "", s, string(def))
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, `{"id":"q1","question":"?","token_hash":"XYZ","options":[{"id":"a","label":"x"},{"id":"b","label":"y"}]}`)
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, `{"id":"q1","question":"?","options":[{"id":"a","label":"x"},{"id":"b","label":"X"}]}`)
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, `{"id":"q1"`+strings.Repeat(`,"x":[`, 3000))
	f.Add("7-1", s, "q1", s, "create", byte(0), "", byte(0), "", s, `null`)
	f.Fuzz(func(t *testing.T, id string, pk byte, pollID string, ok byte, op string, vk byte, voter string, ck byte, option string, dk byte, def string) {
		values := map[string]any{}
		for _, fv := range []struct {
			key  string
			kind byte
			s    string
		}{{ballot.FieldPoll, pk, pollID}, {ballot.FieldOp, ok, op}, {ballot.FieldVoter, vk, voter}, {ballot.FieldVote, ck, option}, {ballot.FieldDef, dk, def}} {
			if v, present := fieldValue(fv.kind, fv.s); present {
				values[fv.key] = v
			}
		}
		var b votedb.Batch
		err := addEntry(&b, redis.XMessage{ID: id, Values: values})
		if err != nil {
			if !errors.Is(err, errInvalid) {
				t.Fatalf("entry %s %v refused with %v, want an error wrapping errInvalid", id, values, err)
			}
			if b.Len() != 0 {
				t.Fatalf("entry %s %v refused (%v), yet added %+v", id, values, err, b)
			}
			return
		}
		seq, err := votedb.ParseSeq(id)
		if err != nil {
			t.Fatalf("entry with id %q accepted: %v", id, err)
		}
		if b.Len() != 1 {
			t.Fatalf("entry %v added %d things, want 1", values, b.Len())
		}
		switch {
		case len(b.Votes) == 1:
			v := b.Votes[0]
			if !poll.ValidID(v.Poll) || !ballot.ValidVoterID(v.VoterID) || !poll.ValidOptionID(v.Option) || v.Seq != seq {
				t.Fatalf("entry %s %v accepted as vote %+v", id, values, v)
			}
		case len(b.States) == 1:
			c := b.States[0]
			if !poll.ValidID(c.Poll) || c.State != poll.StateOpen && c.State != poll.StateClosed || c.Seq != seq {
				t.Fatalf("entry %s %v accepted as state change %+v", id, values, c)
			}
		case len(b.Creates) == 1:
			rec := b.Creates[0]
			if rec.ID != values[ballot.FieldPoll] || !validHash(rec.TokenHash) ||
				strings.ContainsRune(rec.Question+strings.Join(labelsOf(rec.Poll), ""), 0) {
				t.Fatalf("entry %s %v accepted as create %+v", id, values, rec)
			}
			again, err := poll.New(rec.ID, rec.Question, labelsOf(rec.Poll), rec.CreatedAt)
			if err != nil || !reflect.DeepEqual(again, rec.Poll) {
				t.Fatalf("create %+v is not a poll New makes: %+v, %v", rec, again, err)
			}
		}
	})
}

func labelsOf(p poll.Poll) []string {
	l := make([]string, len(p.Options))
	for i, o := range p.Options {
		l[i] = o.Label
	}
	return l
}

// FuzzCreateAccepted checks the vote server's side against the worker's:
// a definition poll.New accepts (as the vote server does before it answers
// 201), written to the stream as the vote server writes it, is a create
// the worker accepts as the same poll. Else the poll would live in Redis,
// take votes, and never reach PostgreSQL.
func FuzzCreateAccepted(f *testing.F) {
	f.Add("Which colour?", "Red|Green|Blue")
	f.Add("  Cats vs Dogs!  ", " Cats | Dogs ")
	f.Add("K or k?", "K|\u212a")
	f.Add("tab\tand\nnewline", "<b>bold</b>|&amp;")
	f.Fuzz(func(t *testing.T, question, joined string) {
		labels := strings.Split(joined, "|")
		p, err := poll.New("q7k2m9xa", question, labels, time.Date(2026, 11, 26, 19, 30, 0, 123e6, time.UTC))
		if err != nil {
			return
		}
		def, err := json.Marshal(poll.Record{Poll: p, TokenHash: poll.HashToken("token")})
		if err != nil {
			t.Fatal(err)
		}
		var b votedb.Batch
		err = addEntry(&b, redis.XMessage{ID: "7-1", Values: map[string]any{
			ballot.FieldOp: ballot.OpCreate, ballot.FieldPoll: p.ID, ballot.FieldDef: string(def)}})
		if err != nil {
			t.Fatalf("poll.New accepted %q %q, the worker drops its create entry: %v", question, labels, err)
		}
		got := b.Creates[0].Poll
		if !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("created_at: got %v, want %v", got.CreatedAt, p.CreatedAt)
		}
		got.CreatedAt = p.CreatedAt
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("the worker's poll %+v is not the vote server's %+v", got, p)
		}
	})
}
