-- Polls: any question with 2 to 12 options, many at once. Version 1's
-- votes become the default poll's ballots, and votes becomes a view that
-- shows them exactly as version 1 stored them, so the original results
-- app (SELECT vote, COUNT(id) AS count FROM votes GROUP BY vote) reads
-- this database unchanged.

-- +goose Up
CREATE TABLE polls (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    question     text NOT NULL CHECK (length(question) BETWEEN 1 AND 200),
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    -- SHA-256 of the manage token in hex; NULL: nobody manages the poll.
    token_hash   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The tally's version: every committed change to the counts or the
    -- state adds one.
    version      bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- The stream entry id of the last close or reopen applied, so that a
    -- redelivered command cannot undo a newer one.
    state_seq_ms bigint NOT NULL DEFAULT 0,
    state_seq_n  bigint NOT NULL DEFAULT 0
);

-- Each option with its running count, kept in the same transaction as the
-- ballots.
CREATE TABLE poll_options (
    poll     text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    option   text NOT NULL CHECK (option ~ '^[a-l]$'),
    position smallint NOT NULL,
    label    text NOT NULL CHECK (length(label) BETWEEN 1 AND 80),
    votes    bigint NOT NULL DEFAULT 0 CHECK (votes >= 0),
    PRIMARY KEY (poll, option)
);

-- One row per voter per poll: the voter's current vote and the stream
-- entry id it came with (a vote only replaces one accepted earlier).
CREATE TABLE ballots (
    poll   text NOT NULL,
    voter  text NOT NULL,
    vote   text NOT NULL,
    seq_ms bigint NOT NULL DEFAULT 0,
    seq_n  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (poll, voter),
    FOREIGN KEY (poll, vote) REFERENCES poll_options (poll, option) ON DELETE CASCADE
);

-- The default poll, with version 1's version. Its labels here are only a
-- record: the servers show OPTION_A and OPTION_B.
INSERT INTO polls (id, question, version, updated_at)
SELECT 'default', 'Cats vs Dogs!', version, updated_at FROM tally_version;
INSERT INTO poll_options (poll, option, position, label)
VALUES ('default', 'a', 0, 'Cats'), ('default', 'b', 1, 'Dogs');

INSERT INTO ballots (poll, voter, vote, seq_ms, seq_n)
SELECT 'default', id, vote, seq_ms, seq_n FROM votes WHERE vote IN ('a', 'b');
UPDATE poll_options o
SET votes = (SELECT count(*) FROM ballots b WHERE b.poll = o.poll AND b.vote = o.option)
WHERE o.poll = 'default';
-- The original app kept no version: its votes become version 1, so that
-- the first tally anyone sees of them is newer than an empty poll's.
UPDATE polls SET version = 1
WHERE id = 'default' AND version = 0
  AND EXISTS (SELECT 1 FROM ballots WHERE poll = 'default');

DROP TABLE votes;
DROP TABLE IF EXISTS tally;
DROP TABLE tally_version;

CREATE VIEW votes AS
SELECT voter AS id, vote FROM ballots WHERE poll = 'default';

-- +goose Down
-- Polls other than the default one have no place in version 1's schema.
DROP VIEW votes;
CREATE TABLE votes (
    id     text PRIMARY KEY,
    vote   text NOT NULL,
    seq_ms bigint NOT NULL DEFAULT 0,
    seq_n  bigint NOT NULL DEFAULT 0
);
INSERT INTO votes (id, vote, seq_ms, seq_n)
SELECT voter, vote, seq_ms, seq_n FROM ballots WHERE poll = 'default';
CREATE TABLE tally_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
INSERT INTO tally_version (version, updated_at)
SELECT version, updated_at FROM polls WHERE id = 'default';
DROP TABLE ballots;
DROP TABLE poll_options;
DROP TABLE polls;
