-- netready plane, schema 1. Portable SQL: runs on SQLite and PostgreSQL alike.
-- Timestamps are milliseconds since the Unix epoch (BIGINT); reports are stored as JSON text.

CREATE TABLE runners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE reports (
    runner_id      TEXT NOT NULL REFERENCES runners (id),
    checked_at     TEXT NOT NULL,
    checked_at_ms  BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    status         TEXT NOT NULL,
    degraded       TEXT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (runner_id, checked_at)
);
CREATE INDEX reports_by_runner_time ON reports (runner_id, checked_at_ms);
CREATE INDEX reports_by_received ON reports (received_at);

-- The newest report of each runner, kept beside the history so that listing 10,000 runners is
-- one scan of this table.
CREATE TABLE runner_state (
    runner_id         TEXT PRIMARY KEY REFERENCES runners (id),
    checked_at        TEXT NOT NULL,
    checked_at_ms     BIGINT NOT NULL,
    status            TEXT NOT NULL,
    degraded          TEXT NOT NULL,
    last_received_at  BIGINT NOT NULL
);

CREATE TABLE status_changes (
    runner_id    TEXT NOT NULL REFERENCES runners (id),
    at_ms        BIGINT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL
);
CREATE INDEX status_changes_by_runner ON status_changes (runner_id, at_ms);
