-- netready plane, schema 7: alerts on readiness changes. Portable SQL: runs on SQLite and
-- PostgreSQL alike. Timestamps are milliseconds since the Unix epoch.

-- Where notifications go. `secret` signs webhook bodies (HMAC-SHA256); it is never shown again
-- after the channel is created. A Slack incoming webhook's secret is its URL.
CREATE TABLE alert_channels (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Per runner, what was last announced and the change waiting to be confirmed (consecutive checks,
-- a minimum duration): written in the transaction that stores the reports, only when it changes.
CREATE TABLE alert_trackers (
    runner_id   TEXT PRIMARY KEY,
    announced   TEXT,
    candidate   TEXT,
    since_ms    BIGINT NOT NULL,
    checks      BIGINT NOT NULL
);
-- Runners that reported before alerts existed start from what they are: no notification for a
-- state nobody was told about at upgrade time, only for what changes after it.
INSERT INTO alert_trackers (runner_id, announced, candidate, since_ms, checks)
    SELECT runner_id, status, NULL, 0, 0 FROM runner_state;

-- The outbox: one row per notification and channel, written with the change that caused it. The
-- id is the idempotency key; a delivery worker claims a due row for `claimed_until` (a lease), so
-- a plane that dies mid-delivery leaves it to be retried once the lease runs out. A runner's
-- notifications to a channel go out in order — (created_at, at_ms), at_ms being when the change
-- was confirmed — one at a time: a later one waits until the earlier one is delivered.
CREATE TABLE alert_outbox (
    id               TEXT PRIMARY KEY,
    channel_id       TEXT NOT NULL,
    runner_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    at_ms            BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT,
    delivered_at     BIGINT,
    last_error       TEXT
);
CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX alert_outbox_by_time ON alert_outbox (created_at);
CREATE INDEX alert_outbox_pending_by_runner ON alert_outbox (channel_id, runner_id, created_at)
    WHERE delivered_at IS NULL;
