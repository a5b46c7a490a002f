-- netready plane, schema 5 (PostgreSQL): history keyed by time as a number. A check is identified by
-- its runner and its instant in milliseconds (the canonical `checked_at` text is derived from it),
-- so the history row and its key lose the 24-byte text timestamp. The newest report's body
-- lives in `latest_reports` (one row per runner, replaced by each newer report); `history_bodies`
-- keeps only the first report of each run that differs in more than timings, and late reports.
-- Rows for the same instant spelled two ways before schema 4's canonical spelling collapse into one.
CREATE TABLE checks (
    runner_id      TEXT NOT NULL,
    checked_at_ms  BIGINT NOT NULL,
    received_at    BIGINT NOT NULL,
    run_start      SMALLINT NOT NULL,
    status         TEXT NOT NULL,
    degraded       TEXT NOT NULL,
    summary        TEXT NOT NULL,
    PRIMARY KEY (runner_id, checked_at_ms)
);
INSERT INTO checks (runner_id, checked_at_ms, received_at, run_start, status, degraded, summary)
    SELECT runner_id, checked_at_ms, received_at, run_start, status, degraded, summary FROM reports
    ON CONFLICT DO NOTHING;
-- Retention deletes by time. Rows arrive in time order, so a BRIN index (a few pages for the
-- whole table) finds old ones without a B-tree entry per row.
CREATE INDEX checks_by_time ON checks USING brin (checked_at_ms);

CREATE TABLE latest_reports (
    runner_id      TEXT PRIMARY KEY,
    checked_at_ms  BIGINT NOT NULL,
    body           TEXT NOT NULL
);
INSERT INTO latest_reports (runner_id, checked_at_ms, body)
    SELECT s.runner_id, s.checked_at_ms, b.body FROM runner_state s
    JOIN report_bodies b ON b.runner_id = s.runner_id AND b.checked_at = s.checked_at
    ON CONFLICT DO NOTHING;

CREATE TABLE history_bodies (
    runner_id      TEXT NOT NULL,
    checked_at_ms  BIGINT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (runner_id, checked_at_ms)
);
INSERT INTO history_bodies (runner_id, checked_at_ms, body)
    SELECT b.runner_id, r.checked_at_ms, b.body FROM report_bodies b
    JOIN reports r ON r.runner_id = b.runner_id AND r.checked_at = b.checked_at WHERE r.run_start = 1
    ON CONFLICT DO NOTHING;

DROP TABLE report_bodies;
DROP TABLE reports;
-- As report bodies since schema 2: lz4 where the server has it.
DO $$
BEGIN
    ALTER TABLE latest_reports ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE history_bodies ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'report bodies keep the default compression: %', SQLERRM;
END
$$;
