//! Alerts' storage inside a write transaction: the per-runner trackers and the outbox are written in the transaction that
//! changes a runner's state — a report batch ([`plan_batch`], called by `write_batch`), or the
//! stale sweep ([`Store::sweep_stale`]) — so a notification exists exactly when its change was
//! committed. Delivery workers claim due outbox rows with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer), so with several replicas each row is sent by one of them.
//!
//! Ingest cost: one read of the batch's trackers by key; a tracker is written only when it
//! changes (a pending or confirmed change), and channels are read only when a change is confirmed.

use std::collections::BTreeMap;

use sqlx::Row;

use super::alert_types::Channel;
use netready_check::Status;

use super::error::StoreError;
use super::sql::placeholders;
use super::types::NewReport;
use crate::alerts::routing::Route;
use crate::alerts::silences::Silence;
use crate::alerts::{self, Candidate, ChannelKind, Policy, RunnerRef, Tracker, Transition};
use crate::readiness::DegradedEndpoint;
use crate::readiness::Readiness;
use crate::time::now_ms;

/// A row to add to the outbox.
#[derive(Debug, Clone)]
pub(super) struct OutboxRow {
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

fn readiness_of_status(status: Status) -> Readiness {
    match status {
        Status::Ready => Readiness::Ready,
        Status::Degraded => Readiness::Degraded,
    }
}

pub(super) fn tracker_of(row: &sqlx::any::AnyRow) -> Result<Tracker, sqlx::Error> {
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
pub(super) fn columns_of(t: &Tracker) -> (Option<&'static str>, Option<&'static str>, i64, i64) {
    (
        t.announced.map(Readiness::as_str),
        t.candidate.map(|c| c.readiness.as_str()),
        t.candidate.map_or(0, |c| c.since_ms),
        t.candidate.map_or(0, |c| i64::from(c.checks)),
    )
}

/// Reads the trackers of the runners whose state the batch moves, runs each moving report
/// through [`alerts::advance`] in time order, and prepares what changed. `observed` indexes
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
    let mut transitions: Vec<(&str, Transition, &[DegradedEndpoint])> = Vec::new();
    for i in observed {
        let r = fresh[*i];
        let tracker = trackers.get(&r.runner_id).copied().unwrap_or_default();
        let (next, transition) = alerts::advance(tracker, readiness_of_status(r.status), r.checked_at_ms, policy);
        trackers.insert(r.runner_id.clone(), next);
        if let Some(t) = transition {
            transitions.push((r.runner_id.as_str(), t, &r.degraded));
        }
    }
    let changed = trackers.into_iter().filter(|(id, t)| before.get(id) != Some(t)).collect();
    let outbox = outbox_rows(tx, &transitions).await?;
    Ok(BatchAlerts { trackers: changed, outbox })
}

/// The notifications of some transitions, one per channel; reads the channels (and the runners'
/// names) only when there is a transition.
pub(super) async fn outbox_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    transitions: &[(&str, Transition, &[DegradedEndpoint])],
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
    let now = now_ms();
    let silences = active_in(tx, now).await?;
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
            let payload = alerts::event(&id, &runner, transition, degraded).to_json();
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

pub(super) async fn write_outbox(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[OutboxRow],
) -> Result<(), sqlx::Error> {
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

pub(super) fn channel_of(row: &sqlx::any::AnyRow) -> Result<Channel, StoreError> {
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
            &[("channel_id", serde_json::json!(channel_id)), ("error", serde_json::json!(e.to_string()))],
        );
        Route::unreadable()
    })
}

pub(super) fn silence_of(row: &sqlx::any::AnyRow) -> Result<Silence, sqlx::Error> {
    Ok(Silence {
        id: row.try_get("id")?,
        runners: row.try_get("runners")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
    })
}

pub(super) const SILENCE_COLUMNS: &str = "id, runners, reason, created_at, starts_at, ends_at";

/// The silences active at `now` (read in a transaction that writes notifications).
pub(super) async fn active_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    now: i64,
) -> Result<Vec<Silence>, sqlx::Error> {
    let sql = format!("SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE starts_at <= $1 AND ends_at > $1");
    sqlx::query(&sql).bind(now).fetch_all(&mut **tx).await?.iter().map(silence_of).collect()
}
