//! Alerts' storage: the per-runner trackers and the outbox are written in the transaction that
//! changes a runner's state — a report batch ([`plan_batch`], called by `write_batch`), or the
//! stale sweep ([`Store::sweep_stale`]) — so a notification exists exactly when its change was
//! committed. Delivery workers claim due outbox rows with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer), so with several replicas each row is sent by one of them.
//!
//! Ingest cost: one read of the batch's trackers by key; a tracker is written only when it
//! changes (a pending or confirmed change), and channels are read only when a change is confirmed.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use sqlx::Row;
use tokio::sync::Notify;

use super::{Backend, NewReport, Store, StoreError, now_ms, placeholders};
use crate::alerts::routing::Route;
use crate::alerts::{self, Candidate, ChannelKind, Policy, RunnerRef, Tracker, Transition};
use crate::readiness::Readiness;

/// What the report writer and the delivery worker share: the policy `serve` configured, and a
/// way to wake the worker when a commit wrote notifications.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertShared {
    pub(crate) policy: Arc<RwLock<Policy>>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) counters: Arc<alerts::deliver::Counters>,
}

/// A notification channel as stored. `secret` never leaves the plane after creation.
#[derive(Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
    /// Which changes it is told of.
    pub route: Route,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &alerts::display_url(self.kind, &self.url))
            .field("secret", &"***")
            .field("route", &self.route)
            .finish()
    }
}

/// A notification claimed for delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub channel_id: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// A notification's delivery state, for the dashboard and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub id: String,
    pub channel_id: String,
    pub runner_id: String,
    /// The runner's name (none once the runner is deleted).
    pub runner_name: Option<String>,
    pub kind: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    /// When it was given up (undelivered for longer than `--alert-give-up-after`).
    pub expired_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not sent yet.
    Pending,
    /// The last attempt failed; it will be tried again.
    Failing,
    /// A receiver answered 2xx.
    Delivered,
    /// Not delivered in time, given up: never tried again.
    Expired,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] =
        [DeliveryState::Pending, DeliveryState::Failing, DeliveryState::Delivered, DeliveryState::Expired];

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The SQL condition on `alert_outbox o` that selects this state ([`Delivery::state`]'s rule).
    fn condition(self) -> &'static str {
        match self {
            Self::Pending => "o.delivered_at IS NULL AND o.expired_at IS NULL AND o.last_error IS NULL",
            Self::Failing => "o.delivered_at IS NULL AND o.expired_at IS NULL AND o.last_error IS NOT NULL",
            Self::Delivered => "o.delivered_at IS NOT NULL",
            Self::Expired => "o.delivered_at IS NULL AND o.expired_at IS NOT NULL",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failing => "failing",
            Self::Delivered => "delivered",
            Self::Expired => "expired",
        }
    }
}

impl Delivery {
    pub fn state(&self) -> DeliveryState {
        if self.delivered_at.is_some() {
            DeliveryState::Delivered
        } else if self.expired_at.is_some() {
            DeliveryState::Expired
        } else if self.last_error.is_some() {
            DeliveryState::Failing
        } else {
            DeliveryState::Pending
        }
    }
}

/// A notification given up, for the log.
#[derive(Debug, Clone)]
pub struct Expired {
    pub id: String,
    pub channel_id: String,
    pub runner_id: String,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Notifications by state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Not delivered yet, and no attempt failed.
    pub pending: i64,
    /// Not delivered, and the last attempt failed (waiting for a retry).
    pub failing: i64,
    pub delivered: i64,
    /// Given up: not delivered within `--alert-give-up-after`.
    pub expired: i64,
}

impl OutboxCounts {
    pub fn of(&self, state: DeliveryState) -> i64 {
        match state {
            DeliveryState::Pending => self.pending,
            DeliveryState::Failing => self.failing,
            DeliveryState::Delivered => self.delivered,
            DeliveryState::Expired => self.expired,
        }
    }
}

/// A row to add to the outbox.
#[derive(Debug, Clone)]
struct OutboxRow {
    id: String,
    channel_id: String,
    runner_id: String,
    kind: &'static str,
    payload: String,
    /// When the change was confirmed: orders a runner's notifications written together.
    at_ms: i64,
}

/// What a report batch writes for alerts.
#[derive(Debug, Default)]
pub(super) struct BatchAlerts {
    trackers: Vec<(String, Tracker)>,
    outbox: Vec<OutboxRow>,
}

impl BatchAlerts {
    /// Whether the commit wrote notifications (the delivery worker is then woken).
    pub(super) fn notifies(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Writes the changed trackers and the new notifications, in the batch's transaction.
    pub(super) async fn apply(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), sqlx::Error> {
        write_trackers(tx, &self.trackers).await?;
        write_outbox(tx, &self.outbox).await
    }
}

fn readiness_of_status(status: &str) -> Readiness {
    if status == "ready" { Readiness::Ready } else { Readiness::Degraded }
}

fn tracker_of(row: &sqlx::any::AnyRow) -> Result<Tracker, sqlx::Error> {
    let announced: Option<String> = row.try_get("announced")?;
    let candidate: Option<String> = row.try_get("candidate")?;
    let since_ms: i64 = row.try_get("since_ms")?;
    let checks: i64 = row.try_get("checks")?;
    Ok(Tracker {
        announced: announced.as_deref().and_then(Readiness::parse),
        candidate: candidate.as_deref().and_then(Readiness::parse).map(|readiness| Candidate {
            readiness,
            since_ms,
            checks: u32::try_from(checks).unwrap_or(u32::MAX),
        }),
    })
}

/// The columns a tracker is stored as: announced, candidate, since, checks.
fn columns_of(t: &Tracker) -> (Option<&'static str>, Option<&'static str>, i64, i64) {
    (
        t.announced.map(Readiness::as_str),
        t.candidate.map(|c| c.readiness.as_str()),
        t.candidate.map_or(0, |c| c.since_ms),
        t.candidate.map_or(0, |c| i64::from(c.checks)),
    )
}

/// Reads the trackers of the runners whose state the batch moves, runs each moving report
/// through [`alerts::observe`] in time order, and prepares what changed. `observed` indexes
/// `fresh`, grouped by runner and in time order within each.
pub(super) async fn plan_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    fresh: &[&NewReport],
    observed: &[usize],
    policy: Policy,
) -> Result<BatchAlerts, sqlx::Error> {
    if observed.is_empty() {
        return Ok(BatchAlerts::default());
    }
    let mut ids: Vec<&str> = observed.iter().map(|i| fresh[*i].runner_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT runner_id, announced, candidate, since_ms, checks FROM alert_trackers WHERE runner_id IN ({})",
        (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let mut trackers: BTreeMap<String, Tracker> = BTreeMap::new();
    for row in q.fetch_all(&mut **tx).await? {
        trackers.insert(row.try_get("runner_id")?, tracker_of(&row)?);
    }
    let before = trackers.clone();
    let mut transitions: Vec<(&str, Transition, &str)> = Vec::new();
    for i in observed {
        let r = fresh[*i];
        let tracker = trackers.get(&r.runner_id).copied().unwrap_or_default();
        let (next, transition) = alerts::observe(tracker, readiness_of_status(&r.status), r.checked_at_ms, policy);
        trackers.insert(r.runner_id.clone(), next);
        if let Some(t) = transition {
            transitions.push((r.runner_id.as_str(), t, r.degraded.as_str()));
        }
    }
    let changed = trackers.into_iter().filter(|(id, t)| before.get(id) != Some(t)).collect();
    let outbox = outbox_rows(tx, &transitions).await?;
    Ok(BatchAlerts { trackers: changed, outbox })
}

/// The notifications of some transitions, one per channel; reads the channels (and the runners'
/// names) only when there is a transition.
async fn outbox_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    transitions: &[(&str, Transition, &str)],
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut channels: Vec<(String, Route)> = Vec::new();
    for row in sqlx::query("SELECT id, runners, kinds FROM alert_channels ORDER BY id").fetch_all(&mut **tx).await? {
        let (id, runners, kinds): (String, Option<String>, Option<String>) =
            (row.try_get("id")?, row.try_get("runners")?, row.try_get("kinds")?);
        channels.push((id.clone(), stored_route(&id, runners, kinds.as_deref())));
    }
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<&str> = transitions.iter().map(|(id, _, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql =
        format!("SELECT id, name FROM runners WHERE id IN ({})", placeholders(ids.len(), 1).replace(['(', ')'], ""));
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for row in q.fetch_all(&mut **tx).await? {
        names.insert(row.try_get("id")?, row.try_get("name")?);
    }
    let now = super::now_ms();
    let silences = super::silences::active_in(tx, now).await?;
    let mut rows = Vec::new();
    for (runner_id, transition, degraded) in transitions {
        let runner = RunnerRef {
            id: (*runner_id).to_owned(),
            name: names.get(*runner_id).cloned().unwrap_or_else(|| (*runner_id).to_owned()),
        };
        if let Some(silence) = silences.iter().find(|s| s.silences(&runner.name, now)) {
            netready_process::log::info(
                "change not announced: silenced",
                &[
                    ("runner_id", serde_json::json!(runner.id)),
                    ("kind", serde_json::json!(transition.kind().as_str())),
                    ("silence_id", serde_json::json!(silence.id)),
                ],
            );
            continue;
        }
        for (channel_id, route) in &channels {
            if !route.matches(&runner.name, transition.kind()) {
                continue;
            }
            let id = alerts::notification_id(channel_id, runner_id, transition);
            let payload = alerts::event(&id, &runner, transition, degraded).to_string();
            rows.push(OutboxRow {
                id,
                channel_id: channel_id.clone(),
                runner_id: runner.id.clone(),
                kind: transition.kind().as_str(),
                payload,
                at_ms: transition.at_ms,
            });
        }
    }
    Ok(rows)
}

async fn write_trackers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    trackers: &[(String, Tracker)],
) -> Result<(), sqlx::Error> {
    if trackers.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO alert_trackers (runner_id, announced, candidate, since_ms, checks) VALUES {} \
         ON CONFLICT (runner_id) DO UPDATE SET announced = excluded.announced, candidate = excluded.candidate, \
         since_ms = excluded.since_ms, checks = excluded.checks",
        placeholders(trackers.len(), 5)
    );
    let mut q = sqlx::query(&sql);
    for (id, t) in trackers {
        let (announced, candidate, since, checks) = columns_of(t);
        q = q.bind(id).bind(announced).bind(candidate).bind(since).bind(checks);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn write_outbox(tx: &mut sqlx::Transaction<'_, sqlx::Any>, rows: &[OutboxRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let sql = format!(
        "INSERT INTO alert_outbox (id, channel_id, runner_id, kind, payload, created_at, at_ms, attempts, \
         next_attempt_at) VALUES {} ON CONFLICT (id) DO NOTHING",
        placeholders(rows.len(), 9)
    );
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q
            .bind(&r.id)
            .bind(&r.channel_id)
            .bind(&r.runner_id)
            .bind(r.kind)
            .bind(&r.payload)
            .bind(now)
            .bind(r.at_ms)
            .bind(0i64)
            .bind(now);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

fn channel_of(row: &sqlx::any::AnyRow) -> Result<Channel, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Channel {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: ChannelKind::parse(&kind).map_err(StoreError::Corrupt)?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
        route: stored_route(
            &row.try_get::<String, _>("id")?,
            row.try_get("runners")?,
            row.try_get::<Option<String>, _>("kinds")?.as_deref(),
        ),
    })
}

/// A channel's route as stored by `add_alert_channel` from a checked one. Should it no longer
/// parse (edited by hand), the channel is told of nothing and shown so, with a warning — neither
/// told of everything nor breaking the list, the page or the delivery of what it already has.
fn stored_route(channel_id: &str, runners: Option<String>, kinds: Option<&str>) -> Route {
    Route::from_columns(runners, kinds).unwrap_or_else(|e| {
        netready_process::log::warn(
            "an alert channel's stored route is unreadable: it is told of nothing",
            &[("channel_id", serde_json::json!(channel_id)), ("error", serde_json::json!(e))],
        );
        Route::unreadable()
    })
}

impl Store {
    /// The policy that confirms changes (consecutive checks, minimum duration) from now on.
    pub fn set_alert_policy(&self, policy: Policy) {
        if let Ok(mut p) = self.alerts.policy.write() {
            *p = policy;
        }
    }

    pub(crate) fn alert_policy(&self) -> Policy {
        self.alerts.policy.read().map(|p| *p).unwrap_or_default()
    }

    /// This process's delivery attempts, for `/metrics`.
    pub fn alert_counters(&self) -> Arc<alerts::deliver::Counters> {
        self.alerts.counters.clone()
    }

    /// Resolves when a commit wrote notifications (or at once, if one did since the last call).
    pub async fn alerts_written(&self) {
        self.alerts.wake.notified().await;
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
        let mut tx = super::begin_write(&self.pool, self.backend).await?;
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
            let degraded: String = row.try_get("degraded")?;
            let old = tracker_of(&row)?;
            let (next, transition) = alerts::observe(old, Readiness::Stale, now, policy);
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
            let (next, transition) = alerts::observe(Tracker::default(), Readiness::NeverReported, now, policy);
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
            announced += self.announce(tx, &runner_id, transition, "[]").await?;
        }
        Ok(announced)
    }

    /// A write transaction for one runner's tracker: on PostgreSQL under the runner's ingest lock
    /// (the lock the report writer takes), so that a sweep and a report never decide at once.
    async fn begin_runner_write(&self, runner_id: &str) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = super::begin_write(&self.pool, self.backend).await?;
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
        degraded: &str,
    ) -> Result<usize, StoreError> {
        let transitions: Vec<(&str, Transition, &str)> = transition.iter().map(|t| (runner_id, *t, degraded)).collect();
        let rows = outbox_rows(&mut tx, &transitions).await?;
        write_outbox(&mut tx, &rows).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.alerts.wake.notify_one();
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
                    kind: r.try_get("kind")?,
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
                    kind: r.try_get("kind")?,
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
