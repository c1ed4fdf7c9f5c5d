package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// v1Expected is testdata/v1_expected.json.
type v1Expected struct {
	Counts  map[string]int64 `json:"counts"`
	Total   int64            `json:"total"`
	Version int64            `json:"version"`
}

// v1Votes reads testdata/v1_votes.csv: voter id → vote.
func v1Votes(t testing.TB) map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(fixture(t, "v1_votes.csv"))).ReadAll()
	if err != nil {
		t.Fatalf("testdata/v1_votes.csv: %v", err)
	}
	if len(recs) < 2 || strings.Join(recs[0], ",") != "id,vote" {
		t.Fatalf("testdata/v1_votes.csv: want a header id,vote and rows, got %d records", len(recs))
	}
	m := make(map[string]string, len(recs)-1)
	for _, r := range recs[1:] {
		m[r[0]] = r[1]
	}
	return m
}

// TestUpgradeFromVersion1 fills a schema with version 1's tables and votes
// (this system's first version, and the original example app's single
// table), queues two votes of version 1's stream format as a running
// installation would have left them, then starts version 2 on it, two
// workers at once: the votes are the default poll's, /api/tally shows
// them, the original's query still answers them, and new votes add to them.
func TestUpgradeFromVersion1(t *testing.T) {
	t.Parallel()
	var exp v1Expected
	if err := json.Unmarshal(fixture(t, "v1_expected.json"), &exp); err != nil {
		t.Fatalf("testdata/v1_expected.json: %v", err)
	}
	seed := v1Votes(t)
	for _, variant := range []struct{ name, schema string }{
		{"ours", "v1_schema_ours.sql"},
		{"original", "v1_schema_original.sql"},
	} {
		t.Run(variant.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			if _, err := e.pool.Exec(ctx, string(fixture(t, variant.schema))); err != nil {
				t.Fatalf("creating version 1's schema: %v", err)
			}
			batch := &pgx.Batch{}
			for id, v := range seed {
				batch.Queue("INSERT INTO votes (id, vote) VALUES ($1, $2)", id, v)
			}
			if variant.name == "ours" {
				batch.Queue("INSERT INTO tally (option, votes) SELECT vote, count(*) FROM votes GROUP BY vote")
				batch.Queue("INSERT INTO tally_version (version, updated_at) VALUES ($1, now())", exp.Version)
			}
			if err := e.pool.SendBatch(ctx, batch).Close(); err != nil {
				t.Fatalf("filling version 1's tables: %v", err)
			}
			if got := e.dbCounts(); !mapsEqual(got, exp.Counts) {
				t.Fatalf("the fixture's votes count %v before the upgrade, want %v (testdata/v1_expected.json)", got, exp.Counts)
			}
			// The pool's connections hold that query prepared against the
			// table; PostgreSQL refuses to run it against the view that
			// replaces it ("cached plan must not change result type" when
			// the column was varchar), so start afresh as a new client would.
			e.pool.Reset()

			// Two votes still in the stream, in version 1's format (no poll
			// field): queued before the upgrade, counted after it.
			want := withZeros(exp.Counts, []string{"a", "b"})
			rows := make(map[string]string, len(seed)+8)
			for id, v := range seed {
				rows[id] = v
			}
			for _, v := range []string{"a", "b"} {
				id := ballot.NewVoterID()
				if err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.stream(),
					Values: []string{ballot.FieldVoter, id, ballot.FieldVote, v}}).Err(); err != nil {
					t.Fatal(err)
				}
				rows[id] = v
				want[v]++
			}

			result := e.start("result")
			w1, w2 := e.start("worker"), e.start("worker")
			vote := e.start("vote")
			for _, p := range []*proc{result, w1, w2, vote} {
				p.waitReady()
			}
			waitFor(t, 15*time.Second, "the upgraded tally with the queued votes", func() bool {
				return sameCounts(apiTally(t, result), want)
			})
			tl := apiTally(t, result)
			if tl.Poll != poll.DefaultID || tl.State != poll.StateOpen {
				t.Errorf("/api/tally after the upgrade: got %+v, want the default poll, open", tl)
			}
			if variant.name == "ours" && tl.Version <= exp.Version {
				t.Errorf("/api/tally version %d after the upgrade and two votes, want above version 1's %d", tl.Version, exp.Version)
			}
			if got := e.dbCounts(); !mapsEqual(got, want) {
				t.Errorf("the original's query after the upgrade: got %v, want %v", got, want)
			}
			e.checkRows(rows)
			e.checkPollRows(poll.DefaultID, rows)

			// New votes add to them, through version 1's route and the
			// default poll's of version 2.
			for i, o := range []string{"a", "b", "b"} {
				v := newVoter(t)
				if i == 0 {
					if code := v.vote(t, vote, o); code != http.StatusAccepted {
						t.Fatalf("POST /api/vote: got %d, want 202", code)
					}
				} else if code, body := v.votePoll(t, vote, poll.DefaultID, o); code != http.StatusAccepted {
					t.Fatalf("POST /api/polls/default/votes: got %d %s, want 202", code, body)
				}
				rows[v.id] = o
				want[o]++
			}
			waitFor(t, 15*time.Second, "the new votes added to the upgraded tally", func() bool {
				return sameCounts(apiTally(t, result), want)
			})
			if got := e.dbCounts(); !mapsEqual(got, want) {
				t.Errorf("the original's query after new votes: got %v, want %v", got, want)
			}
			e.checkRows(rows)
			if got := withZeros(e.pollCounts(poll.DefaultID), []string{"a", "b"}); !mapsEqual(got, want) {
				t.Errorf("ballots of the default poll: got %v, want %v", got, want)
			}

			// Version 2 restarted on its own upgraded database changes nothing.
			w1.kill()
			w2.kill()
			e.start("worker").waitReady()
			time.Sleep(300 * time.Millisecond)
			if got := apiTally(t, result); !sameCounts(got, want) {
				t.Errorf("/api/tally after a worker restart on the upgraded database: got %v, want %v", got.Counts, want)
			}
		})
	}
}
