-- netready plane, schema 10: silences (maintenance windows). While a silence is active
-- (starts_at <= now < ends_at), a confirmed change of a runner whose name matches `runners`
-- ('*' for any run of characters) is not announced: no notification is written. It ends by
-- itself at ends_at, or earlier when ended by hand (ends_at moved to then). Portable SQL.
CREATE TABLE alert_silences (
    id          TEXT PRIMARY KEY,
    runners     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL
);
CREATE INDEX alert_silences_by_end ON alert_silences (ends_at);
