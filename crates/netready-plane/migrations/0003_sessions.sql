-- Dashboard sessions: a random id per login, stored only as its SHA-256 hash, with an absolute
-- expiry and an idle timeout (last_seen_at). Logging out deletes the row.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
