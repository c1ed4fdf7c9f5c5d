-- Version 1's schema: one poll (Cats vs Dogs), one row per voter in votes.
-- Written with IF NOT EXISTS so that it brings any version-1 database to
-- the same shape: the original app's (votes (id, vote) only), ours (with
-- the stream position of each vote and a running tally) or an empty one.

-- +goose Up
CREATE TABLE IF NOT EXISTS votes (
    id   text PRIMARY KEY,
    vote text NOT NULL
);
-- The Redis stream entry id (milliseconds, sequence) of the vote a row
-- holds; rows from before it existed get (0, 0), which any vote replaces.
ALTER TABLE votes ADD COLUMN IF NOT EXISTS seq_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE votes ADD COLUMN IF NOT EXISTS seq_n bigint NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS tally_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
INSERT INTO tally_version (version, updated_at) VALUES (0, now())
ON CONFLICT (singleton) DO NOTHING;

-- +goose Down
-- Version 1 is where the history starts: nothing to undo.
SELECT 1;
