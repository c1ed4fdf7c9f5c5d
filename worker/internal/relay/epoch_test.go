package relay

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/poll"
	"livevote/worker/internal/testdb"
	"livevote/worker/internal/testredis"
	"livevote/worker/internal/votedb"
)

// TestRelayFollowsARestoredDatabase: PostgreSQL is restored from an older
// copy of its tables (its versions go back, its epoch changes) while the
// relay runs and no vote comes: within seconds the vote servers' copy
// holds the database's tallies and they are published with the new epoch.
// Votes after it count on the restored tallies, and a poll the restore
// removed is created again from its copy by its next vote.
func TestRelayFollowsARestoredDatabase(t *testing.T) {
	rdb, stream := testredis.Client(t)
	pool := testdb.Pool(t)
	store := votedb.New(pool)
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, rdb: rdb, store: store, stream: stream, pub: &recorder{}, metrics: NewMetrics(prometheus.NewRegistry())}
	stop := f.start(f.store)
	defer stop()
	f.create("p1", "Red", "Blue")
	f.create("p2", "Yes", "No")
	f.vote("p1", voterID(1), "a")
	f.vote("p1", voterID(2), "b")
	f.vote("p2", voterID(1), "a")
	f.waitDrained()
	before := f.wantCounts("p1", map[string]int64{"a": 1, "b": 1})
	if before.Epoch == "" {
		t.Fatal("the database's tally has no epoch")
	}
	for _, table := range []string{"polls", "poll_options", "ballots"} {
		exec(t, pool, "CREATE TABLE backup_"+table+" AS SELECT * FROM "+table)
	}

	f.vote("p1", voterID(3), "b")
	f.vote("p1", voterID(1), "b")
	f.vote("p2", voterID(2), "b")
	f.create("p3", "Left", "Right") // after the backup
	f.vote("p3", voterID(1), "a")
	f.waitDrained()
	waitFor(t, "the copy of p1 past the backup", func() bool {
		c, ok := f.copyTally("p1")
		return ok && c.Version > before.Version+1
	})

	// The restore: the tables emptied (new files: another epoch) and
	// filled from the backup.
	exec(t, pool, `BEGIN;
TRUNCATE polls, poll_options, ballots;
INSERT INTO polls SELECT * FROM backup_polls;
INSERT INTO poll_options SELECT * FROM backup_poll_options;
INSERT INTO ballots SELECT * FROM backup_ballots;
COMMIT`)
	restored := f.wantCounts("p1", map[string]int64{"a": 1, "b": 1})
	if restored.Epoch == before.Epoch || restored.Version != before.Version {
		t.Fatalf("restored p1 %+v: want version %d of another epoch than %q", restored, before.Version, before.Epoch)
	}
	waitFor(t, "the copies of p1 and p2 back to the database's tallies, published", func() bool {
		c1, ok1 := f.copyTally("p1")
		c2, ok2 := f.copyTally("p2")
		pub := f.pub.last()
		return ok1 && ok2 && c1.Epoch == restored.Epoch && c1.Version == restored.Version && c1.Counts["b"] == 1 &&
			c2.Epoch == restored.Epoch && c2.Counts["b"] == 0 && pub["p1"].Epoch == restored.Epoch &&
			pub[poll.DefaultID].Epoch == restored.Epoch
	})

	f.vote("p1", voterID(4), "a")
	f.vote("p3", voterID(2), "b")
	f.waitDrained()
	after := f.wantCounts("p1", map[string]int64{"a": 2, "b": 1})
	if after.Version != restored.Version+1 || after.Epoch != restored.Epoch {
		t.Errorf("p1 after a vote: version %d of %q, want %d of %q", after.Version, after.Epoch, restored.Version+1, restored.Epoch)
	}
	waitFor(t, "the copy of p1 with the vote after the restore", func() bool {
		c, ok := f.copyTally("p1")
		return ok && c.Version == after.Version && c.Counts["a"] == 2
	})
	// p3 was created after the backup: its vote brought it back from the
	// copy (its earlier vote went with the restore).
	f.wantCounts("p3", map[string]int64{"b": 1})
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
