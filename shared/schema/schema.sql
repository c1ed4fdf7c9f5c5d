-- The voting system's schema. Sent as one query string, so PostgreSQL runs it
-- as a single transaction; the advisory lock makes concurrent starts wait for
-- each other instead of racing on CREATE TABLE.
SELECT pg_advisory_xact_lock(3141592653589);

-- One row per voter, as in the original design, so its queries keep working.
CREATE TABLE IF NOT EXISTS votes (
    id   text PRIMARY KEY,
    vote text NOT NULL
);

-- The Redis stream entry id (milliseconds, sequence) of the vote a row holds.
-- A vote is only replaced by one accepted later, so a redelivered or
-- reordered entry cannot undo a newer choice. Rows from before this column
-- existed get (0, 0): any new vote replaces them.
ALTER TABLE votes ADD COLUMN IF NOT EXISTS seq_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE votes ADD COLUMN IF NOT EXISTS seq_n bigint NOT NULL DEFAULT 0;

-- The running count per option, kept in the same transaction as votes.
CREATE TABLE IF NOT EXISTS tally (
    option text PRIMARY KEY,
    votes  bigint NOT NULL CHECK (votes >= 0)
);

-- The tally's version: one row, locked by every batch, so batches from many
-- workers commit one after another and each change gets the next version.
CREATE TABLE IF NOT EXISTS tally_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Counts start from the votes already there, so a database of the original
-- system is carried over.
INSERT INTO tally (option, votes)
SELECT o, (SELECT count(*) FROM votes WHERE vote = o)
FROM unnest(ARRAY['a', 'b']) AS o
ON CONFLICT (option) DO NOTHING;

INSERT INTO tally_version (version, updated_at) VALUES (0, now())
ON CONFLICT (singleton) DO NOTHING;
