-- Version 1 of this system, as its worker created the schema (before the
-- numbered migrations): votes with the stream position of each vote, a
-- running tally and the single version row. The e2e upgrade test fills it
-- from v1_votes.csv and starts version 2 on it.
CREATE TABLE votes (
    id     text PRIMARY KEY,
    vote   text NOT NULL,
    seq_ms bigint NOT NULL DEFAULT 0,
    seq_n  bigint NOT NULL DEFAULT 0
);
CREATE TABLE tally (
    option text PRIMARY KEY,
    votes  bigint NOT NULL CHECK (votes >= 0)
);
CREATE TABLE tally_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
