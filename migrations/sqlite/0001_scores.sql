-- Scores, leaderboards, seats, audit log and deny-list (SQLite).
-- Kept column-for-column identical to ../postgres/0001_scores.sql so the
-- store runs one set of queries on both backends.

CREATE TABLE seats (
    seat        TEXT PRIMARY KEY NOT NULL,
    address     TEXT NOT NULL,
    room        TEXT NOT NULL,
    room_type   TEXT NOT NULL,
    joined_ms   BIGINT NOT NULL,
    left_ms     BIGINT
);

-- Every accepted submission (claims and room awards), the source of truth
-- the leaderboard entries are derived from.
CREATE TABLE scores (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    board        TEXT NOT NULL,
    address      TEXT NOT NULL,
    score        BIGINT NOT NULL,
    session      TEXT,
    source       TEXT NOT NULL,
    metadata     TEXT,
    ip           TEXT,
    period_start BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL
);
-- One client claim per session and leaderboard; awards are not limited.
CREATE UNIQUE INDEX scores_one_claim_per_session ON scores (board, session)
    WHERE source = 'claim' AND session IS NOT NULL;
CREATE INDEX scores_by_address ON scores (address, board, created_ms);

-- One row per (leaderboard, period, player): the operator's running value.
CREATE TABLE entries (
    board        TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    address      TEXT NOT NULL,
    value        BIGINT NOT NULL,
    achieved_ms  BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    submissions  BIGINT NOT NULL,
    PRIMARY KEY (board, period_start, address)
);
CREATE INDEX entries_rank ON entries (board, period_start, value, achieved_ms, address);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    BIGINT NOT NULL,
    address  TEXT,
    ip       TEXT,
    board    TEXT,
    rule     TEXT NOT NULL,
    code     TEXT NOT NULL,
    summary  TEXT NOT NULL
);

CREATE TABLE deny_list (
    address   TEXT PRIMARY KEY NOT NULL,
    reason    TEXT NOT NULL,
    added_ms  BIGINT NOT NULL
);
