package relay

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/poll"
	"livevote/worker/internal/votedb"
)

func TestAddEntry(t *testing.T) {
	p, err := poll.New("q1", "  Lunch? ", []string{"Pizza", "Soup"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := json.Marshal(poll.Record{Poll: p, TokenHash: poll.HashToken("t")})
	voter := voterID(1)
	// The vote servers' ids are signed; the worker cannot check the MAC
	// (it holds no key), only the shape.
	signed := "abcXYZ019-_abcXYZ019-_.0123456789abcDEF"
	tests := []struct {
		name   string
		values map[string]any
		want   votedb.Batch
	}{
		{"vote", map[string]any{"poll": "q1", "voter": voter, "vote": "b"},
			votedb.Batch{Votes: []votedb.Vote{{Poll: "q1", VoterID: voter, Option: "b", Seq: votedb.Seq{Ms: 7, N: 1}}}}},
		{"vote by a signed voter id", map[string]any{"poll": "q1", "voter": signed, "vote": "a"},
			votedb.Batch{Votes: []votedb.Vote{{Poll: "q1", VoterID: signed, Option: "a", Seq: votedb.Seq{Ms: 7, N: 1}}}}},
		{"version 1 vote is the default poll's", map[string]any{"voter": voter, "vote": "a"},
			votedb.Batch{Votes: []votedb.Vote{{Poll: poll.DefaultID, VoterID: voter, Option: "a", Seq: votedb.Seq{Ms: 7, N: 1}}}}},
		{"create", map[string]any{"op": "create", "poll": "q1", "def": string(def)},
			votedb.Batch{Creates: []poll.Record{{Poll: p, TokenHash: poll.HashToken("t")}}}},
		{"close", map[string]any{"op": "close", "poll": "q1"},
			votedb.Batch{States: []votedb.StateChange{{Poll: "q1", State: poll.StateClosed, Seq: votedb.Seq{Ms: 7, N: 1}}}}},
		{"reopen", map[string]any{"op": "reopen", "poll": "q1"},
			votedb.Batch{States: []votedb.StateChange{{Poll: "q1", State: poll.StateOpen, Seq: votedb.Seq{Ms: 7, N: 1}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got votedb.Batch
			if err := addEntry(&got, redis.XMessage{ID: "7-1", Values: tt.values}); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
	bad := []map[string]any{
		{"op": "close"},
		{"op": "close", "poll": "-x"},
		{"op": "create", "poll": "q2", "def": string(def)},
		{"op": "create", "poll": "q1", "def": `{"id":"q1","question":"?","options":[{"id":"b","label":"x"},{"id":"a","label":"y"}]}`},
		{"op": "create", "poll": "q1", "def": `{"id":"q1","question":"?","token_hash":"XYZ","options":[{"id":"a","label":"x"},{"id":"b","label":"y"}]}`},
		{"poll": "q1", "voter": voter, "vote": "m"},
		{"poll": "q1", "voter": voter + "x", "vote": "a"},
		{"poll": "q1", "voter": signed[:22] + "!" + signed[23:], "vote": "a"},
	}
	for _, values := range bad {
		var b votedb.Batch
		if err := addEntry(&b, redis.XMessage{ID: "7-1", Values: values}); !errors.Is(err, errInvalid) || b.Len() != 0 {
			t.Errorf("%v: got %v and %+v, want errInvalid and nothing added", values, err, b)
		}
	}
}
