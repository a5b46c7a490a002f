-- netready plane, schema 9: which changes a channel is told of. `runners`: a runner name pattern
-- ('*' for any run of characters), `kinds`: a comma-separated list of degraded, stale, recovered;
-- NULL for all. Channels made before stay told of everything. Portable SQL.
ALTER TABLE alert_channels ADD COLUMN runners TEXT;
ALTER TABLE alert_channels ADD COLUMN kinds TEXT;
