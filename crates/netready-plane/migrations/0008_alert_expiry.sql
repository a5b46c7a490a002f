-- netready plane, schema 8: a notification that could not be delivered for --alert-give-up-after
-- (24 h by default) is given up: `expired_at` is set, it is never tried again, and a runner's
-- later notifications to that channel no longer wait behind it. Portable SQL.
ALTER TABLE alert_outbox ADD COLUMN expired_at BIGINT;

-- What the delivery worker looks through: neither delivered nor given up.
DROP INDEX alert_outbox_pending;
CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND expired_at IS NULL;
DROP INDEX alert_outbox_pending_by_runner;
CREATE INDEX alert_outbox_pending_by_runner ON alert_outbox (channel_id, runner_id, created_at)
    WHERE delivered_at IS NULL AND expired_at IS NULL;
