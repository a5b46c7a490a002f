-- netready plane, schema 4 (SQLite): compact history. Every check keeps a row in `reports` (time,
-- status, degraded endpoints, a per-endpoint summary of outcomes and durations); full bodies move
-- to `report_bodies`, kept only for the newest report and for the first of each run of reports
-- that agree in everything but timings (run_start = 1). `fingerprint` identifies a report without
-- its timings (kept with the runner's state only). Bodies stored so far move over whole. A
-- runner's history is found through the primary key (runner_id, checked_at): the separate index
-- by (runner_id, checked_at_ms) goes, it cost more per row than the row itself.
ALTER TABLE reports ADD COLUMN summary TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN run_start SMALLINT NOT NULL DEFAULT 1;
ALTER TABLE runner_state ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE runner_state ADD COLUMN run_start SMALLINT NOT NULL DEFAULT 1;
CREATE TABLE report_bodies (
    runner_id   TEXT NOT NULL,
    checked_at  TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (runner_id, checked_at)
);
INSERT INTO report_bodies (runner_id, checked_at, body) SELECT runner_id, checked_at, body FROM reports;
UPDATE reports SET body = '';
DROP INDEX reports_by_runner_time;
