//! The report writer: one task commits reports in batches (every request still waits for its
//! own commit, but concurrent requests share an fsync). The batch planner decides what each
//! report changes; the writer applies it in one transaction per batch.

use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::columns::{degraded_column, status_column, status_of};
use super::hooks::StoreHooks;
use super::outbox;
use super::plan::{Current, Plan, plan};
use super::sql::{begin_write, placeholders};
use super::types::{Backend, NewReport, Stored};
use crate::time::now_ms;

/// How many reports one commit may carry.
const MAX_BATCH: usize = 512;

/// How many reports may wait for the writer.
pub(super) const WRITER_QUEUE: usize = 1024;

pub(super) type Job = (NewReport, oneshot::Sender<Result<Stored, String>>);

/// The writer task: takes what is queued, commits it in one transaction, answers each request.
pub(super) async fn writer(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>, hooks: StoreHooks) {
    let StoreHooks { metrics, alerts } = hooks;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(job) = rx.recv().await {
        batch.push(job);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let policy = alerts.policy.read().map(|p| *p).unwrap_or_default();
        match write_batch(&pool, backend, &batch, policy).await {
            Ok((results, notified)) => {
                if notified {
                    alerts.wake.notify_one();
                }
                metrics.batch(batch.len(), started.elapsed());
                for ((_, reply), stored) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(stored));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Commits a batch in a handful of statements, whatever its size: per-runner locks (PostgreSQL),
/// the current state of the runners concerned, the compact rows (duplicates skipped), the bodies
/// history keeps (only when a run starts), the runners' latest bodies, the new states, the status
/// changes. A steady network costs four statements per batch on SQLite (the state, then the compact
/// rows, the latest bodies and the states); on PostgreSQL three round trips (the locks, the state,
/// then every write in one statement). Alerts add one read (the batch's trackers, by key) and,
/// only while a change is pending or confirmed, the tracker and outbox writes (`db::alerts`).
async fn write_batch(
    pool: &AnyPool,
    backend: Backend,
    batch: &[Job],
    policy: crate::alerts::Policy,
) -> Result<(Vec<Stored>, bool), sqlx::Error> {
    use std::collections::{BTreeMap, HashSet};

    let received = now_ms();
    // The same report twice in one batch: the second is a duplicate.
    let mut seen = HashSet::new();
    let firsts: Vec<bool> = batch.iter().map(|(r, _)| seen.insert((r.runner_id.as_str(), r.checked_at_ms))).collect();
    let fresh: Vec<&NewReport> = batch.iter().zip(&firsts).filter(|(_, first)| **first).map(|((r, _), _)| r).collect();
    let mut ids: Vec<&str> = fresh.iter().map(|r| r.runner_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();

    let mut tx = begin_write(pool, backend).await?;
    if backend == Backend::Postgres {
        // Several replicas may write reports of the same runner at once: serialize per runner (in
        // one global order, so two batches never wait on each other) before reading its state.
        let sql = format!(
            "SELECT pg_advisory_xact_lock(hashtextextended(x, 7270766)) FROM (VALUES {}) AS v(x) \
             ORDER BY hashtextextended(x, 7270766)",
            placeholders(ids.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(*id);
        }
        q.execute(&mut *tx).await?;
    }

    // The runners' current state.
    let sql = format!(
        "SELECT runner_id, checked_at, checked_at_ms, status, degraded, fingerprint FROM runner_state \
         WHERE runner_id IN ({})",
        (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let mut current: BTreeMap<String, Current> = BTreeMap::new();
    for row in q.fetch_all(&mut *tx).await? {
        current.insert(
            row.try_get("runner_id")?,
            Current {
                checked_at: row.try_get("checked_at")?,
                checked_at_ms: row.try_get("checked_at_ms")?,
                status: status_of(&row.try_get::<String, _>("status")?)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                degraded: row.try_get("degraded")?,
                fingerprint: row.try_get("fingerprint")?,
            },
        );
    }

    let (plan, observed) = plan(fresh, &current, received);

    // Alerts: the trackers and notifications these reports cause, in this transaction.
    let alerts = outbox::plan_batch(&mut tx, &plan.fresh, &observed, policy).await?;
    let inserted = match backend {
        Backend::Sqlite => plan.apply_sqlite(&mut tx).await?,
        Backend::Postgres => plan.apply_postgres(&mut tx).await?,
    };
    alerts.apply(&mut tx).await?;
    tx.commit().await?;
    Ok((stored_of(batch, &firsts, &inserted), alerts.notifies()))
}

type Inserted = std::collections::HashSet<(String, i64)>;

/// A query being built for the `Any` driver.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl Plan<'_> {
    /// Binds the fresh reports' `checks` rows, seven values each in the column order both backends'
    /// statements number them: runner, checked at, received, run start, status, degraded, summary.
    fn bind_checks<'q>(&'q self, mut q: AnyQuery<'q>) -> AnyQuery<'q> {
        for (i, r) in self.fresh.iter().enumerate() {
            q = q
                .bind(&r.runner_id)
                .bind(r.checked_at_ms)
                .bind(self.received)
                .bind(i16::from(self.run_start[i]))
                .bind(status_column(r.status))
                .bind(degraded_column(&r.degraded))
                .bind(&r.summary);
        }
        q
    }

    /// Binds the runners' new `runner_state` rows, seven values each in the column order both
    /// backends' statements number them: runner, checked at (text, ms), status, degraded, received,
    /// fingerprint.
    fn bind_states<'q>(&'q self, mut q: AnyQuery<'q>) -> AnyQuery<'q> {
        for (id, s) in &self.states {
            q = q
                .bind(*id)
                .bind(&s.checked_at)
                .bind(s.checked_at_ms)
                .bind(status_column(s.status))
                .bind(&s.degraded)
                .bind(self.received)
                .bind(&s.fingerprint);
        }
        q
    }

    fn inserted_of(rows: Vec<sqlx::any::AnyRow>) -> Result<Inserted, sqlx::Error> {
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>("runner_id")?, row.try_get::<i64, _>("checked_at_ms")?)))
            .collect()
    }

    /// SQLite: one statement per table (each a round trip to the connection's thread, no network).
    async fn apply_sqlite(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Inserted, sqlx::Error> {
        let sql = format!(
            "INSERT INTO checks (runner_id, checked_at_ms, received_at, run_start, status, degraded, summary) \
             VALUES {} ON CONFLICT (runner_id, checked_at_ms) DO NOTHING RETURNING runner_id, checked_at_ms",
            placeholders(self.fresh.len(), 7)
        );
        let q = self.bind_checks(sqlx::query(&sql));
        let inserted = Self::inserted_of(q.fetch_all(&mut **tx).await?)?;
        let kept: Vec<&NewReport> = self
            .fresh
            .iter()
            .enumerate()
            .filter(|(i, r)| self.run_start[*i] && inserted.contains(&(r.runner_id.clone(), r.checked_at_ms)))
            .map(|(_, r)| *r)
            .collect();
        if !kept.is_empty() {
            let sql = format!(
                "INSERT INTO history_bodies (runner_id, checked_at_ms, body) VALUES {} \
                 ON CONFLICT (runner_id, checked_at_ms) DO NOTHING",
                placeholders(kept.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for r in &kept {
                q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
            }
            q.execute(&mut **tx).await?;
        }
        if !self.latest.is_empty() {
            let sql = format!("{} VALUES {} {LATEST_UPSERT}", LATEST_INSERT, placeholders(self.latest.len(), 3));
            let mut q = sqlx::query(&sql);
            for i in &self.latest {
                let r = self.fresh[*i];
                q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
            }
            q.execute(&mut **tx).await?;
        }
        if !self.states.is_empty() {
            let sql = format!("{STATE_INSERT} VALUES {} {STATE_UPSERT}", placeholders(self.states.len(), 7));
            self.bind_states(sqlx::query(&sql)).execute(&mut **tx).await?;
        }
        if !self.network_changed().is_empty() {
            // The fleet view's rows: replaced by the newest report's where the network changed.
            let (rows, ids, _) = self.endpoint_rows();
            sqlx::query("DELETE FROM runner_endpoints WHERE runner_id IN (SELECT value FROM json_each($1))")
                .bind(ids)
                .execute(&mut **tx)
                .await?;
            let select: Vec<String> = ENDPOINT_COLUMNS.iter().map(|(c, _)| format!("value ->> '{c}'")).collect();
            let sql = format!(
                "INSERT INTO runner_endpoints ({}) SELECT {} FROM json_each($1)",
                endpoint_columns(),
                select.join(", ")
            );
            sqlx::query(&sql).bind(rows).execute(&mut **tx).await?;
        }
        if !self.changes.is_empty() {
            let sql = format!("{CHANGES_INSERT} VALUES {}", placeholders(self.changes.len(), 4));
            let mut q = sqlx::query(&sql);
            for (id, at, from, to) in &self.changes {
                q = q.bind(*id).bind(*at).bind(from.map(status_column)).bind(status_column(*to));
            }
            q.execute(&mut **tx).await?;
        }
        Ok(inserted)
    }

    /// PostgreSQL: every write of the batch in one statement (data-modifying CTEs), so that a
    /// batch costs one network round trip for its writes, whatever it holds. The history bodies
    /// join the compact rows the statement inserted, as SQLite's path filters by them.
    async fn apply_postgres(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Inserted, sqlx::Error> {
        let mut n = 0usize;
        let mut values = |rows: usize, casts: &[&str]| -> String {
            (0..rows)
                .map(|_| {
                    let row: Vec<String> = casts
                        .iter()
                        .map(|cast| {
                            n += 1;
                            format!("${n}::{cast}")
                        })
                        .collect();
                    format!("({})", row.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kept: Vec<&NewReport> =
            self.fresh.iter().enumerate().filter(|(i, _)| self.run_start[*i]).map(|(_, r)| *r).collect();
        let mut parts = vec![format!(
            "c AS (INSERT INTO checks (runner_id, checked_at_ms, received_at, run_start, status, degraded, summary) \
             VALUES {} ON CONFLICT (runner_id, checked_at_ms) DO NOTHING RETURNING runner_id, checked_at_ms)",
            values(self.fresh.len(), &["text", "bigint", "bigint", "smallint", "text", "text", "text"])
        )];
        if !kept.is_empty() {
            parts.push(format!(
                "h AS (INSERT INTO history_bodies (runner_id, checked_at_ms, body) SELECT v.r, v.t, v.b \
                 FROM (VALUES {}) AS v (r, t, b) JOIN c ON c.runner_id = v.r AND c.checked_at_ms = v.t \
                 ON CONFLICT (runner_id, checked_at_ms) DO NOTHING)",
                values(kept.len(), &["text", "bigint", "text"])
            ));
        }
        if !self.latest.is_empty() {
            parts.push(format!(
                "l AS ({LATEST_INSERT} VALUES {} {LATEST_UPSERT})",
                values(self.latest.len(), &["text", "bigint", "text"])
            ));
        }
        if !self.states.is_empty() {
            parts.push(format!(
                "s AS ({STATE_INSERT} VALUES {} {STATE_UPSERT})",
                values(self.states.len(), &["text", "text", "bigint", "text", "text", "bigint", "text"])
            ));
        }
        if !self.changes.is_empty() {
            parts.push(format!(
                "x AS ({CHANGES_INSERT} VALUES {})",
                values(self.changes.len(), &["text", "bigint", "text", "text"])
            ));
        }
        // The fleet view's rows, as JSON (two parameters whatever the batch holds): each advancing
        // runner's endpoints upserted, and its rows for services its newest report no longer has
        // deleted — disjoint rows, as the sub-statements of one statement must be.
        let endpoints = (!self.network_changed().is_empty()).then(|| self.endpoint_rows());
        if endpoints.is_some() {
            let types: Vec<String> = ENDPOINT_COLUMNS.iter().map(|(c, t)| format!("{c} {t}")).collect();
            let updates: Vec<String> =
                ENDPOINT_COLUMNS.iter().skip(2).map(|(c, _)| format!("{c} = excluded.{c}")).collect();
            n += 1;
            parts.push(format!(
                "e AS (INSERT INTO runner_endpoints ({cols}) SELECT {cols} FROM json_to_recordset(${n}::json) AS x ({}) \
                 ON CONFLICT (runner_id, service) DO UPDATE SET {} \
                 WHERE runner_endpoints.checked_at_ms < excluded.checked_at_ms)",
                types.join(", "),
                updates.join(", "),
                cols = endpoint_columns(),
            ));
            n += 1;
            parts.push(format!(
                "ed AS (DELETE FROM runner_endpoints d USING json_to_recordset(${n}::json) \
                 AS y (runner_id text, checked_at_ms bigint, services text) \
                 WHERE d.runner_id = y.runner_id AND d.checked_at_ms < y.checked_at_ms \
                 AND NOT (d.service = ANY (string_to_array(y.services, ','))))"
            ));
        }
        let sql = format!("WITH {} SELECT runner_id, checked_at_ms FROM c", parts.join(", "));
        // Bound in the order the placeholders were numbered.
        let mut q = self.bind_checks(sqlx::query(&sql));
        for r in &kept {
            q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
        }
        for i in &self.latest {
            let r = self.fresh[*i];
            q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
        }
        q = self.bind_states(q);
        for (id, at, from, to) in &self.changes {
            q = q.bind(*id).bind(*at).bind(from.map(status_column)).bind(status_column(*to));
        }
        if let Some((rows, _, services)) = endpoints {
            q = q.bind(rows).bind(services);
        }
        Self::inserted_of(q.fetch_all(&mut **tx).await?)
    }
}

impl Plan<'_> {
    /// The advancing runners whose newest report starts a run (it differs from the state's in more
    /// than timings, or the runner had none): only their fleet rows can change. A steady network
    /// costs the fleet view no write at all, which keeps ingest as fast as without it.
    fn network_changed(&self) -> Vec<usize> {
        self.latest.iter().copied().filter(|i| self.run_start[*i]).collect()
    }

    /// Those runners' endpoint rows as a JSON array of objects (the columns of
    /// [`ENDPOINT_COLUMNS`]), their ids as a JSON array, and per runner its newest report's time and
    /// services (`{runner_id, checked_at_ms, services: "logs,s3"}`), for the statements that
    /// replace their rows.
    fn endpoint_rows(&self) -> (String, String, String) {
        let mut rows = Vec::new();
        let mut ids = Vec::new();
        let mut services = Vec::new();
        for i in self.network_changed() {
            let r = self.fresh[i];
            let p = &r.placement;
            for e in &r.endpoints {
                rows.push(serde_json::json!({
                    "runner_id": r.runner_id, "service": e.service, "checked_at_ms": r.checked_at_ms,
                    "received_at": self.received, "region": p.region, "reachability": e.reachability,
                    "access_type": e.access_type, "phase": e.phase, "outcome": e.outcome,
                    "subnet_cidr": p.subnet_cidr, "subnet_id": p.subnet_id,
                    "availability_zone": p.availability_zone, "vpc_id": p.vpc_id, "account_id": p.account_id,
                    "hint": e.hint, "finding": e.finding,
                }));
            }
            ids.push(serde_json::Value::String(r.runner_id.clone()));
            let list: Vec<&str> = r.endpoints.iter().map(|e| e.service.as_str()).collect();
            services.push(serde_json::json!({
                "runner_id": r.runner_id, "checked_at_ms": r.checked_at_ms, "services": list.join(","),
            }));
        }
        (
            serde_json::Value::Array(rows).to_string(),
            serde_json::Value::Array(ids).to_string(),
            serde_json::Value::Array(services).to_string(),
        )
    }
}

/// The columns of `runner_endpoints` with their PostgreSQL types; the key first.
const ENDPOINT_COLUMNS: [(&str, &str); 16] = [
    ("runner_id", "text"),
    ("service", "text"),
    ("checked_at_ms", "bigint"),
    ("received_at", "bigint"),
    ("region", "text"),
    ("reachability", "text"),
    ("access_type", "text"),
    ("phase", "text"),
    ("outcome", "text"),
    ("subnet_cidr", "text"),
    ("subnet_id", "text"),
    ("availability_zone", "text"),
    ("vpc_id", "text"),
    ("account_id", "text"),
    ("hint", "text"),
    ("finding", "text"),
];

fn endpoint_columns() -> String {
    ENDPOINT_COLUMNS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

const LATEST_INSERT: &str = "INSERT INTO latest_reports (runner_id, checked_at_ms, body)";
const LATEST_UPSERT: &str = "ON CONFLICT (runner_id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms, \
     body = excluded.body WHERE latest_reports.checked_at_ms < excluded.checked_at_ms";
const STATE_INSERT: &str = "INSERT INTO runner_state (runner_id, checked_at, checked_at_ms, status, degraded, \
     last_received_at, fingerprint)";
const STATE_UPSERT: &str = "ON CONFLICT (runner_id) DO UPDATE SET checked_at = excluded.checked_at, \
     checked_at_ms = excluded.checked_at_ms, status = excluded.status, degraded = excluded.degraded, \
     last_received_at = excluded.last_received_at, fingerprint = excluded.fingerprint \
     WHERE runner_state.checked_at_ms < excluded.checked_at_ms";
const CHANGES_INSERT: &str = "INSERT INTO status_changes (runner_id, at_ms, from_status, to_status)";

/// Each request's answer: created when its report was inserted by this batch, else a duplicate.
fn stored_of(batch: &[Job], firsts: &[bool], inserted: &Inserted) -> Vec<Stored> {
    batch
        .iter()
        .zip(firsts)
        .map(|((r, _), first)| {
            if *first && inserted.contains(&(r.runner_id.clone(), r.checked_at_ms)) {
                Stored::Created
            } else {
                Stored::Duplicate
            }
        })
        .collect()
}
