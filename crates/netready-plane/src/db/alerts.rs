//! Alerts' storage as the rest of the plane uses it: channels, the stale and never-reported
//! sweeps, claiming and settling notifications. What a report batch writes for alerts is in
//! [`super::outbox`], in the writer's transaction.

use sqlx::Row;

pub use super::alert_types::{Channel, Claimed, Delivery, DeliveryState, Expired, OutboxCounts};
use super::columns::{degraded_of, get_named};
use super::error::StoreError;
use super::outbox::{channel_of, columns_of, outbox_rows, tracker_of, write_outbox};
use super::sql::begin_write;
use super::store::Store;
use super::types::Backend;
use crate::alerts::Tracker;
use crate::alerts::{self, Policy, Transition};
use crate::readiness::{DegradedEndpoint, Readiness};
use std::sync::Arc;

impl Store {
    /// The policy that confirms changes (consecutive checks, minimum duration) from now on.
    pub fn set_alert_policy(&self, policy: Policy) {
        if let Ok(mut p) = self.hooks.alerts.policy.write() {
            *p = policy;
        }
    }

    pub(crate) fn alert_policy(&self) -> Policy {
        self.hooks.alerts.policy.read().map(|p| *p).unwrap_or_default()
    }

    /// This process's delivery attempts, for `/metrics`.
    pub fn alert_counters(&self) -> Arc<alerts::deliver::Counters> {
        self.hooks.alerts.counters.clone()
    }

    /// Resolves when a commit wrote notifications (or at once, if one did since the last call).
    pub async fn alerts_written(&self) {
        self.hooks.alerts.wake.notified().await;
    }

    pub async fn add_alert_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_channels (id, name, kind, url, secret, created_at, runners, kinds) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&channel.id)
        .bind(&channel.name)
        .bind(channel.kind.as_str())
        .bind(&channel.url)
        .bind(&channel.secret)
        .bind(channel.created_at)
        .bind(&channel.route.runners)
        .bind(channel.route.kinds_column())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every channel, secrets included: callers show [`alerts::display_url`] and never the secret.
    pub async fn alert_channels(&self) -> Result<Vec<Channel>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, kind, url, secret, created_at, runners, kinds FROM alert_channels ORDER BY name, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_of).collect()
    }

    pub async fn alert_channel(&self, id: &str) -> Result<Option<Channel>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, kind, url, secret, created_at, runners, kinds FROM alert_channels WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_of).transpose()
    }

    /// Removes a channel and its undelivered notifications; false when there is none.
    pub async fn remove_alert_channel(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.pool, self.backend).await?;
        let done = sqlx::query("DELETE FROM alert_channels WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM alert_outbox WHERE channel_id = $1 AND delivered_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Announces the runners that went stale (nothing received since `stale_before`, not revoked)
    /// and were not announced so: each in its own transaction that moves its tracker only if it
    /// is still what was read (and, on PostgreSQL, under the runner's ingest lock), so that with
    /// several replicas one of them writes the notification. Returns how many were announced.
    pub async fn sweep_stale(&self, now: i64, stale_before: i64) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT t.runner_id, t.announced, t.candidate, t.since_ms, t.checks, s.degraded FROM alert_trackers t \
             JOIN runner_state s ON s.runner_id = t.runner_id JOIN runners r ON r.id = t.runner_id \
             WHERE r.revoked_at IS NULL AND s.last_received_at < $1 \
             AND (t.announced IS NULL OR t.announced <> 'stale' OR t.candidate IS NOT NULL) LIMIT 1000",
        )
        .bind(stale_before)
        .fetch_all(&self.pool)
        .await?;
        let policy = self.alert_policy();
        let mut announced = 0;
        for row in rows {
            let runner_id: String = row.try_get("runner_id")?;
            let degraded = degraded_of(&row.try_get::<String, _>("degraded")?)?;
            let old = tracker_of(&row)?;
            let (next, transition) = alerts::advance(old, Readiness::Stale, now, policy);
            let mut tx = self.begin_runner_write(&runner_id).await?;
            let (oa, oc, os, ok) = columns_of(&old);
            let (na, nc, ns, nk) = columns_of(&next);
            let moved = sqlx::query(
                "UPDATE alert_trackers SET announced = $1, candidate = $2, since_ms = $3, checks = $4 \
                 WHERE runner_id = $5 AND COALESCE(announced, '') = $6 AND COALESCE(candidate, '') = $7 \
                 AND since_ms = $8 AND checks = $9 AND EXISTS (SELECT 1 FROM runner_state s \
                 WHERE s.runner_id = $5 AND s.last_received_at < $10)",
            )
            .bind(na)
            .bind(nc)
            .bind(ns)
            .bind(nk)
            .bind(&runner_id)
            .bind(oa.unwrap_or(""))
            .bind(oc.unwrap_or(""))
            .bind(os)
            .bind(ok)
            .bind(stale_before)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 0 {
                // Another replica announced it, or a report arrived: nothing to do.
                tx.rollback().await?;
                continue;
            }
            announced += self.announce(tx, &runner_id, transition, &degraded).await?;
        }
        Ok(announced)
    }

    /// Announces the runners registered before `registered_before` that never reported (not
    /// revoked, never announced): their tasks most likely never started. Each in its own
    /// transaction that creates the runner's tracker only if it has none and still no state (and,
    /// on PostgreSQL, under the runner's ingest lock), so that with several replicas, or a first
    /// report arriving now, one notification at most is written. Returns how many were announced.
    pub async fn sweep_never_reported(&self, now: i64, registered_before: i64) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id FROM runners r WHERE r.revoked_at IS NULL AND r.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM runner_state s WHERE s.runner_id = r.id) \
             AND NOT EXISTS (SELECT 1 FROM alert_trackers t WHERE t.runner_id = r.id) LIMIT 1000",
        )
        .bind(registered_before)
        .fetch_all(&self.pool)
        .await?;
        let policy = self.alert_policy();
        let mut announced = 0;
        for row in rows {
            let runner_id: String = row.try_get("id")?;
            let (next, transition) = alerts::advance(Tracker::default(), Readiness::NeverReported, now, policy);
            let mut tx = self.begin_runner_write(&runner_id).await?;
            let (na, nc, ns, nk) = columns_of(&next);
            let created = sqlx::query(
                "INSERT INTO alert_trackers (runner_id, announced, candidate, since_ms, checks) \
                 SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM runner_state s WHERE s.runner_id = $1) \
                 ON CONFLICT (runner_id) DO NOTHING",
            )
            .bind(&runner_id)
            .bind(na)
            .bind(nc)
            .bind(ns)
            .bind(nk)
            .execute(&mut *tx)
            .await?;
            if created.rows_affected() == 0 {
                // Another replica announced it, or its first report arrived: nothing to do.
                tx.rollback().await?;
                continue;
            }
            announced += self.announce(tx, &runner_id, transition, &[]).await?;
        }
        Ok(announced)
    }

    /// A write transaction for one runner's tracker: on PostgreSQL under the runner's ingest lock
    /// (the lock the report writer takes), so that a sweep and a report never decide at once.
    async fn begin_runner_write(&self, runner_id: &str) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = begin_write(&self.pool, self.backend).await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7270766))")
                .bind(runner_id)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Writes the notifications of a sweep's `transition` for `runner_id` (its degraded endpoints
    /// as JSON) in `tx`, commits, and wakes the delivery worker when there are any. Returns how
    /// many transitions were announced (0 or 1).
    async fn announce(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        runner_id: &str,
        transition: Option<Transition>,
        degraded: &[DegradedEndpoint],
    ) -> Result<usize, StoreError> {
        let transitions: Vec<(&str, Transition, &[DegradedEndpoint])> =
            transition.iter().map(|t| (runner_id, *t, degraded)).collect();
        let rows = outbox_rows(&mut tx, &transitions).await?;
        write_outbox(&mut tx, &rows).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.hooks.alerts.wake.notify_one();
        }
        Ok(transitions.len())
    }

    /// Claims up to `limit` due notifications for `lease_ms`: each is counted as an attempt and
    /// no other worker takes it until the lease runs out (a worker that dies mid-delivery leaves
    /// it to be retried then). A notification waits while an earlier one of the same runner to
    /// the same channel is undelivered, so that a receiver gets a runner's changes in order.
    pub async fn claim_alerts(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<Claimed>, StoreError> {
        self.claim(None, now, lease_ms, limit, None).await
    }

    /// [`Store::claim_alerts`] for one channel: the delivery worker claims per channel, for the
    /// free slots of that channel's lane, so that one channel's backlog never fills another's.
    /// With `oldest_before` (grouping), only once the channel has an undelivered notification
    /// written then or earlier — and then everything due, so that a group gathers what came
    /// within the window of its first change.
    pub async fn claim_channel_alerts(
        &self,
        channel_id: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
        oldest_before: Option<i64>,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim(Some(channel_id), now, lease_ms, limit, oldest_before).await
    }

    async fn claim(
        &self,
        channel_id: Option<&str>,
        now: i64,
        lease_ms: i64,
        limit: i64,
        oldest_before: Option<i64>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let due = |t: &str| {
            format!(
                "{t}delivered_at IS NULL AND {t}expired_at IS NULL AND {t}next_attempt_at <= $2 \
                 AND ({t}claimed_until IS NULL OR {t}claimed_until <= $2)"
            )
        };
        let lock = if self.backend == Backend::Postgres { "FOR UPDATE OF o SKIP LOCKED" } else { "" };
        // Optional parameters from $4 on, in this order.
        let mut next = 3;
        let mut param = || {
            next += 1;
            next
        };
        let window = match oldest_before {
            Some(_) => format!(
                "AND EXISTS (SELECT 1 FROM alert_outbox q WHERE q.channel_id = o.channel_id \
                 AND q.delivered_at IS NULL AND q.expired_at IS NULL AND q.created_at <= ${})",
                param()
            ),
            None => String::new(),
        };
        let channel = match channel_id {
            Some(_) => format!("AND o.channel_id = ${}", param()),
            None => String::new(),
        };
        let pick = format!(
            "SELECT o.id FROM alert_outbox o WHERE {} {window} {channel} AND NOT EXISTS (SELECT 1 FROM alert_outbox p \
             WHERE p.channel_id = o.channel_id AND p.runner_id = o.runner_id AND p.delivered_at IS NULL \
             AND p.expired_at IS NULL AND (p.created_at < o.created_at OR (p.created_at = o.created_at AND p.at_ms < o.at_ms))) \
             ORDER BY o.next_attempt_at LIMIT $3 {lock}",
            due("o.")
        );
        let sql = match self.backend {
            // Picked once, then updated. As `UPDATE … WHERE id IN (pick)`, PostgreSQL may run
            // the locking pick again for every row of an outbox it has no statistics for yet —
            // a fresh table in a burst, the very moment alerts matter: minutes per claim.
            Backend::Postgres => format!(
                "WITH picked AS MATERIALIZED ({pick}) UPDATE alert_outbox a SET claimed_until = $1, \
                 attempts = a.attempts + 1 FROM picked WHERE a.id = picked.id \
                 RETURNING a.id, a.channel_id, a.payload, a.attempts"
            ),
            Backend::Sqlite => format!(
                "UPDATE alert_outbox SET claimed_until = $1, attempts = attempts + 1 WHERE {} AND id IN ({pick}) \
                 RETURNING id, channel_id, payload, attempts",
                due("")
            ),
        };
        let mut q = sqlx::query(&sql).bind(now + lease_ms).bind(now).bind(limit);
        if let Some(before) = oldest_before {
            q = q.bind(before);
        }
        if let Some(id) = channel_id {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.try_get("id")?,
                    channel_id: r.try_get("channel_id")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records a delivery. A receiver that took it is what counts: should the attempt have
    /// outlived its lease and been given up meanwhile, it is delivered after all.
    pub async fn alert_delivered(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_outbox SET delivered_at = $1, claimed_until = NULL, last_error = NULL, expired_at = NULL \
             WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt (unless another worker took the row over since) and when to retry.
    pub async fn alert_failed(&self, claimed: &Claimed, next_attempt_at: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_outbox SET claimed_until = NULL, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3 AND attempts = $4 AND delivered_at IS NULL AND expired_at IS NULL",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(&claimed.id)
        .bind(claimed.attempts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up at most `limit` of the notifications written before `created_before` and still
    /// undelivered, oldest first (none that a worker holds now: it is given up after that attempt,
    /// if it fails). With several replicas each is given up, and returned, by one of them. Bounded,
    /// so that a backlog never holds SQLite's write lock for long.
    pub async fn expire_alerts(&self, now: i64, created_before: i64, limit: i64) -> Result<Vec<Expired>, StoreError> {
        let overdue = |t: &str| {
            format!(
                "{t}delivered_at IS NULL AND {t}expired_at IS NULL AND {t}created_at < $2 \
                 AND ({t}claimed_until IS NULL OR {t}claimed_until <= $1)"
            )
        };
        let pick = format!("SELECT o.id FROM alert_outbox o WHERE {} ORDER BY o.created_at LIMIT $3", overdue("o."));
        let sql = match self.backend {
            // Picked once, as in `claim` (a locking subquery in `IN` may be run again per row).
            Backend::Postgres => format!(
                "WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) UPDATE alert_outbox a SET expired_at = $1 \
                 FROM picked WHERE a.id = picked.id \
                 RETURNING a.id, a.channel_id, a.runner_id, a.kind, a.attempts, a.last_error"
            ),
            Backend::Sqlite => format!(
                "UPDATE alert_outbox SET expired_at = $1 WHERE {} AND id IN ({pick}) \
                 RETURNING id, channel_id, runner_id, kind, attempts, last_error",
                overdue("")
            ),
        };
        let rows = sqlx::query(&sql).bind(now).bind(created_before).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Expired {
                    id: r.try_get("id")?,
                    channel_id: r.try_get("channel_id")?,
                    runner_id: r.try_get("runner_id")?,
                    kind: get_named(r, "kind")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// Drops a notification that can no longer be sent (its channel was removed).
    pub async fn drop_alert(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM alert_outbox WHERE id = $1 AND delivered_at IS NULL")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest notifications (of one state, if given), newest first.
    pub async fn alert_deliveries(
        &self,
        limit: i64,
        state: Option<DeliveryState>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT o.id, o.channel_id, o.runner_id, r.name AS runner_name, o.kind, o.created_at, o.attempts, \
             o.next_attempt_at, o.delivered_at, o.expired_at, o.last_error \
             FROM alert_outbox o LEFT JOIN runners r ON r.id = o.runner_id WHERE {} \
             ORDER BY o.created_at DESC, o.id LIMIT $1",
            state.map_or("1 = 1", DeliveryState::condition)
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    channel_id: r.try_get("channel_id")?,
                    runner_id: r.try_get("runner_id")?,
                    runner_name: r.try_get("runner_name")?,
                    kind: get_named(r, "kind")?,
                    created_at: r.try_get("created_at")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                    expired_at: r.try_get("expired_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    pub async fn alert_counts(&self) -> Result<OutboxCounts, StoreError> {
        // Each state's count by the rule that selects it (`DeliveryState::condition`).
        let sums: Vec<String> = DeliveryState::ALL
            .iter()
            .map(|s| format!("COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS {}", s.condition(), s.as_str()))
            .collect();
        let row = sqlx::query(&format!("SELECT {} FROM alert_outbox o", sums.join(", "))).fetch_one(&self.pool).await?;
        Ok(OutboxCounts {
            pending: row.try_get("pending")?,
            failing: row.try_get("failing")?,
            delivered: row.try_get("delivered")?,
            expired: row.try_get("expired")?,
        })
    }

    /// Deletes delivered and given-up notifications from before `before_ms`. Returns how many went.
    pub async fn prune_alerts(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM alert_outbox WHERE (delivered_at IS NOT NULL OR expired_at IS NOT NULL) AND created_at < $1",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
