-- The original example voting app's table, as its worker created it: one
-- row per voter, nothing else. The e2e upgrade test fills it from
-- v1_votes.csv and starts version 2 on it.
CREATE TABLE IF NOT EXISTS votes (
    id   VARCHAR(255) NOT NULL UNIQUE,
    vote VARCHAR(255) NOT NULL
);
