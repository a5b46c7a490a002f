//! Storage: SQLite (one file, the default) or PostgreSQL (for several plane replicas), through
//! one portable set of queries. Migrations are files embedded in the binary and applied at start.
//!
//! Writes of reports go through one writer task that commits them in batches: every request
//! still waits for its own commit (a 2xx means durably stored), but concurrent requests share an
//! fsync instead of queueing for one each.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::readiness::{Ages, Readiness};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

pub mod alerts;
pub mod silences;

/// A migration: the same SQL for both backends, or one text each where they differ.
struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// The migrations, in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/0001_init.sql"),
        postgres: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "report_compression",
        sqlite: include_str!("../migrations/0002_report_compression.sqlite.sql"),
        postgres: include_str!("../migrations/0002_report_compression.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "sessions",
        sqlite: include_str!("../migrations/0003_sessions.sql"),
        postgres: include_str!("../migrations/0003_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "compact_history",
        sqlite: include_str!("../migrations/0004_compact_history.sqlite.sql"),
        postgres: include_str!("../migrations/0004_compact_history.postgres.sql"),
    },
    Migration {
        version: 5,
        name: "checks",
        sqlite: include_str!("../migrations/0005_checks.sqlite.sql"),
        postgres: include_str!("../migrations/0005_checks.postgres.sql"),
    },
    Migration {
        version: 6,
        name: "runner_endpoints",
        sqlite: include_str!("../migrations/0006_runner_endpoints.sql"),
        postgres: include_str!("../migrations/0006_runner_endpoints.sql"),
    },
    Migration {
        version: 7,
        name: "alerts",
        sqlite: include_str!("../migrations/0007_alerts.sql"),
        postgres: include_str!("../migrations/0007_alerts.sql"),
    },
    Migration {
        version: 8,
        name: "alert_expiry",
        sqlite: include_str!("../migrations/0008_alert_expiry.sql"),
        postgres: include_str!("../migrations/0008_alert_expiry.sql"),
    },
    Migration {
        version: 9,
        name: "alert_routing",
        sqlite: include_str!("../migrations/0009_alert_routing.sql"),
        postgres: include_str!("../migrations/0009_alert_routing.sql"),
    },
    Migration {
        version: 10,
        name: "alert_silences",
        sqlite: include_str!("../migrations/0010_alert_silences.sql"),
        postgres: include_str!("../migrations/0010_alert_silences.sql"),
    },
];

/// A runner's rank by readiness, from `runners r LEFT JOIN runner_state s` with `$1` the time
/// before which a report is stale and `never_before` the time before which a registration without
/// a report is `never_reported`: 0 degraded, 1 never reported, 2 stale, 3 unknown, 4 ready
/// (crate::readiness::Readiness's order). The arms of a `CASE … END`. `never_before` is a number
/// the plane computed, written into the statement (not text from a request).
fn rank_arms(never_before: i64) -> String {
    format!(
        "WHEN s.runner_id IS NULL AND r.created_at < {never_before} THEN 1 WHEN s.runner_id IS NULL THEN 3 \
         WHEN s.last_received_at < $1 THEN 2 WHEN s.status = 'ready' THEN 4 ELSE 0"
    )
}

/// How many readiness values there are (the length of the counts by rank).
pub const RANKS: usize = Readiness::ALL.len();

/// A runner and its state, for lists and details.
const RUNNER_WITH_STATE: &str = "SELECT r.id, r.name, r.created_at, r.revoked_at, s.checked_at, s.checked_at_ms, \
     s.status, s.degraded, s.last_received_at FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id";

/// The tables that hold reports, for the storage benchmark.
const HISTORY_TABLES: [&str; 5] = ["checks", "history_bodies", "latest_reports", "runner_state", "status_changes"];

/// How many reports one commit may carry.
const MAX_BATCH: usize = 512;

/// How many reports may wait for the writer.
const WRITER_QUEUE: usize = 1024;

/// Why the store could not do what was asked, by who can act on it. The API maps these to status
/// codes in one place (`error.rs`): the caller's mistake is a 400, the database's trouble a 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What the caller asked to store breaks a rule (a runner name): the caller's to fix.
    #[error("{0}")]
    InvalidInput(String),
    /// The database setting cannot name a store (an unsupported scheme, an empty value, a missing
    /// CA bundle): the operator's to fix before anything connects.
    #[error("{0}")]
    Config(String),
    /// The database could not be opened (refused, unreachable, TLS): said with a hint.
    #[error("{0}")]
    Connect(String),
    /// A statement failed: the database is down, restarting or refused it. Retry later.
    #[error("database error: {0}")]
    Unavailable(#[from] sqlx::Error),
    /// The report writer's commit failed (its statement's error, said once for the batch).
    #[error("{0}")]
    Write(String),
    /// What is stored is not what this plane writes: an edited migration, an unknown channel kind.
    #[error("{0}")]
    Corrupt(String),
    #[error("the report writer has stopped")]
    WriterGone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A runner as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A runner with its newest report's summary, for lists.
#[derive(Debug, Clone)]
pub struct RunnerRow {
    pub runner: Runner,
    pub state: Option<State>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub checked_at: String,
    pub checked_at_ms: i64,
    pub status: String,
    /// JSON array of the degraded endpoints' summaries.
    pub degraded: String,
    pub last_received_at: i64,
}

/// Which runners a list shows.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// Only this rank ([`Readiness::rank`]).
    pub rank: Option<i64>,
    /// Only names or ids containing this text, case-insensitively.
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
    pub now_ms: i64,
    pub ages: Ages,
}

/// One page of a runner list.
#[derive(Debug, Clone)]
pub struct RunnerPage {
    /// How many runners match the whole filter.
    pub total: i64,
    /// How many runners match the text filter, by rank ([`Readiness::ALL`]'s order).
    pub by_rank: [i64; RANKS],
    pub runners: Vec<RunnerRow>,
}

/// What the fleet view counts.
#[derive(Debug, Clone)]
pub struct FleetFilter {
    /// Only endpoints of runners whose newest report arrived since then.
    pub fresh_since_ms: i64,
    /// Runners that reported before this are stale (for the counts of runners).
    pub stale_before_ms: i64,
    pub region: Option<String>,
    pub service: Option<String>,
    /// At most this many causes, and this many groups.
    pub limit: i64,
}

/// Runners reaching one service in one region through one access type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachCount {
    pub service: String,
    pub region: String,
    pub access_type: String,
    pub full: i64,
    pub partial: i64,
    pub none: i64,
}

/// What a cause's rows have in one column: how many distinct values, how many rows know it, and
/// the value when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub distinct: i64,
    pub known: i64,
    /// The smallest value (the only one when `distinct` is 1).
    pub one: Option<String>,
}

/// What degraded endpoints have in common: the service, where, how it is reached and what failed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CauseKey {
    pub service: String,
    pub region: String,
    pub reachability: String,
    pub access_type: String,
    pub phase: Option<String>,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CauseRow {
    pub key: CauseKey,
    pub runners: i64,
    pub subnet_cidr: Shared,
    pub availability_zone: Shared,
    pub vpc_id: Shared,
    pub account_id: Shared,
    pub hint: Option<String>,
    pub finding: Option<String>,
}

/// A cause in one place (subnet, zone, VPC, account).
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub key: CauseKey,
    pub runners: i64,
    pub subnet_cidr: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FleetRunners {
    pub total: i64,
    pub never_reported: i64,
    pub stale: i64,
    pub degraded: i64,
}

#[derive(Debug, Clone)]
pub struct FleetData {
    pub runners: FleetRunners,
    pub reach: Vec<ReachCount>,
    pub causes: Vec<CauseRow>,
    pub groups: Vec<GroupRow>,
}

/// A runner's checks over a day and a week: (ready, all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uptime {
    pub runner_id: String,
    pub day: (i64, i64),
    pub week: (i64, i64),
}

fn cause_key(r: &sqlx::any::AnyRow) -> Result<CauseKey, StoreError> {
    Ok(CauseKey {
        service: r.try_get("service")?,
        region: r.try_get("region")?,
        reachability: r.try_get("reachability")?,
        access_type: r.try_get("access_type")?,
        phase: r.try_get("phase")?,
        outcome: r.try_get("outcome")?,
    })
}

/// A report ready to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub runner_id: String,
    pub checked_at: String,
    pub checked_at_ms: i64,
    pub status: String,
    pub degraded: String,
    pub body: String,
    /// Identifies the report without its timings: equal fingerprints, same network.
    pub fingerprint: String,
    /// Per endpoint, in order: reachability, access type and duration, e.g. `fv12,nv2000,…`.
    pub summary: String,
    /// Where the task runs, for the fleet view.
    pub placement: Placement,
    /// Per endpoint (one per service), for the fleet view.
    pub endpoints: Vec<EndpointFacts>,
}

/// Where a report's task runs. `None` where the report does not say (see migration 6).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub region: String,
    pub subnet_cidr: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
}

/// How one endpoint of a report fared, as the fleet view groups it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointFacts {
    pub service: String,
    pub reachability: String,
    pub access_type: String,
    /// The first phase that failed (`dns`, `address`, `tcp`, `tls`); `None` when fully reachable.
    pub phase: Option<String>,
    /// That phase's outcome (`nxdomain`, `not_dialled`, `timeout`, `reset`, …).
    pub outcome: Option<String>,
    /// The endpoint's first hint.
    pub hint: Option<String>,
    /// The id of the first diagnosis finding that names this endpoint (version 3), errors first.
    pub finding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub at_ms: i64,
    pub from_status: Option<String>,
    pub to_status: String,
}

#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub checked_at: String,
    pub received_at: i64,
    pub status: String,
    pub degraded: String,
    /// Per endpoint: reachability, access type, duration (see `api::readiness::summary`).
    pub summary: String,
}

type Job = (NewReport, oneshot::Sender<Result<Stored, String>>);

/// The store: a pool for reads and runner administration, a writer task for reports.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: mpsc::Sender<Job>,
    metrics: std::sync::Arc<crate::observe::Metrics>,
    alerts: alerts::AlertShared,
}

/// The canonical spelling of an instant, as reports are identified: `2026-11-26T13:27:11.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))).to_string()
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Turns `--database` into a URL: `postgres://…` and `sqlite:…` as given, anything else is a path
/// to a SQLite file (created when missing).
pub fn database_url(database: &str) -> Result<(String, Backend), StoreError> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        Ok((database.to_owned(), Backend::Postgres))
    } else if database.starts_with("sqlite:") {
        Ok((database.to_owned(), Backend::Sqlite))
    } else if database.contains("://") {
        Err(StoreError::Config(format!(
            "unsupported database '{}': expected a SQLite file path or a postgres:// URL",
            redact(database)
        )))
    } else if database.is_empty() {
        Err(StoreError::Config("empty database: expected a SQLite file path or a postgres:// URL".into()))
    } else {
        Ok((format!("sqlite://{database}?mode=rwc"), Backend::Sqlite))
    }
}

/// A database URL with its password replaced, for messages.
/// Where the RDS CA bundle (AWS's `global-bundle.pem`) is in the plane's image.
pub const RDS_CA_BUNDLE: &str = "/etc/netready/rds-global-bundle.pem";

/// The CA bundle a `postgres://` URL names with `sslrootcert=`, checked before connecting so that a
/// missing file is named as such (sqlx says only "No such file or directory").
fn check_root_cert(database: &str) -> Result<(), StoreError> {
    let query = database.split_once('?').map_or("", |(_, q)| q);
    let Some(path) = query.split('&').find_map(|kv| kv.strip_prefix("sslrootcert=")) else { return Ok(()) };
    let path = percent_decode(path);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(StoreError::Config(format!("the CA bundle sslrootcert={path} is not a file"))),
        Err(e) => Err(StoreError::Config(format!(
            "cannot read the CA bundle sslrootcert={path} of the database URL: {e}: for RDS it is AWS's \
             global-bundle.pem, which the plane's image carries at {RDS_CA_BUNDLE}"
        ))),
    }
}

/// `%XX` escapes decoded (a path in a URL query may carry them); anything malformed kept as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to do about a failed connection, when the cause is TLS (RDS forces it: `rds.force_ssl=1`).
fn connect_hint(e: &sqlx::Error) -> String {
    let text = e.to_string();
    if text.contains("no encryption") {
        format!(
            " (the server accepts only TLS: add ?sslmode=verify-full&sslrootcert=<CA bundle> to the URL; \
             for RDS, AWS's global-bundle.pem, in the plane's image at {RDS_CA_BUNDLE})"
        )
    } else if text.contains("not valid for name") {
        " (the server's certificate is for another host name: connect by the name on the certificate, \
         for RDS the instance's endpoint address, not an IP address or an alias)"
            .into()
    } else if text.contains("UnknownIssuer") {
        " (the server's certificate is not from a CA in the sslrootcert= file: for RDS, AWS's global-bundle.pem)".into()
    } else {
        String::new()
    }
}

pub fn redact(url: &str) -> String {
    netready_process::log::redact_url(url)
}

impl Store {
    /// Connects, applies pending migrations and starts the report writer.
    pub async fn open(database: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (url, backend) = database_url(database)?;
        if backend == Backend::Postgres {
            check_root_cert(database)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            // A SQLite connection is a file handle in this process: it cannot go stale, and a
            // ping before every use is a round trip to its worker thread. PostgreSQL
            // connections can (a server restart), so they are tested.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(|e| {
                StoreError::Connect(format!("cannot open database {}: {e}{}", redact(database), connect_hint(&e)))
            })?;
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the writer; it is a property of the file, set once.
            // SQLite's default `synchronous = FULL` (kept by sqlx) makes each commit durable
            // before the API answers 2xx.
            sqlx::raw_sql("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        migrate(&pool, backend).await?;
        // Bounded: at most this many reports (each ≤ the body limit) wait for a commit; further
        // requests wait for room, with their own body already read.
        let (tx, rx) = mpsc::channel::<Job>(WRITER_QUEUE);
        let metrics = std::sync::Arc::new(crate::observe::Metrics::default());
        let alerts = alerts::AlertShared::default();
        tokio::spawn(writer(pool.clone(), backend, rx, metrics.clone(), alerts.clone()));
        Ok(Store { pool, backend, writer: tx, metrics, alerts })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The counters of this store's writer (batch sizes, commit latency), for `/metrics`.
    pub fn metrics(&self) -> std::sync::Arc<crate::observe::Metrics> {
        self.metrics.clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn add_runner(&self, id: &str, name: &str, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO runners (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(token_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Adds many runners in one transaction: (id, name, token hash) each. For imports and benchmarks.
    pub async fn add_runners(&self, runners: &[(String, String, String)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        for (id, name, hash) in runners {
            sqlx::query("INSERT INTO runners (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(name)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Renames a runner; false when there is no such runner.
    pub async fn rename_runner(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE runners SET name = $1 WHERE id = $2").bind(name).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a runner's token hash (the old token stops working at once) and lifts a
    /// revocation; false when there is no such runner.
    pub async fn rotate_token(&self, id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE runners SET token_hash = $1, revoked_at = NULL WHERE id = $2")
            .bind(token_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a runner with its reports, state and status changes; false when there is none.
    pub async fn delete_runner(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in
            ["status_changes", "history_bodies", "latest_reports", "checks", "runner_endpoints", "runner_state"]
        {
            sqlx::query(&format!("DELETE FROM {table} WHERE runner_id = $1")).bind(id).execute(&mut *tx).await?;
        }
        // Its alert tracker; notifications already written stay in the outbox and are delivered.
        sqlx::query("DELETE FROM alert_trackers WHERE runner_id = $1").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM runners WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes a runner's token; false when there is no such runner.
    pub async fn revoke_runner(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE runners SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        Ok(self.runner(id).await?.is_some())
    }

    /// The runner a token hash belongs to.
    pub async fn runner_by_token(&self, token_hash: &str) -> Result<Option<Runner>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at, revoked_at FROM runners WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| runner_of(&r)).transpose()
    }

    pub async fn runner(&self, id: &str) -> Result<Option<Runner>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at, revoked_at FROM runners WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| runner_of(&r)).transpose()
    }

    /// How many runners there are of each readiness ([`Readiness::ALL`]'s order), revoked
    /// runners apart (the last number): they stopped reporting on purpose.
    pub async fn readiness_counts(&self, now_ms: i64, ages: Ages) -> Result<([i64; RANKS], i64), StoreError> {
        let sql = format!(
            "SELECT CASE WHEN r.revoked_at IS NOT NULL THEN {RANKS} {} END AS rank, COUNT(*) AS n \
             FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id GROUP BY 1",
            rank_arms(now_ms - ages.never_reported_after_ms)
        );
        let (mut by_rank, mut revoked) = ([0i64; RANKS], 0);
        for row in sqlx::query(&sql).bind(now_ms - ages.stale_after_ms).fetch_all(&self.pool).await? {
            let (r, n): (i64, i64) = (row.try_get("rank")?, row.try_get("n")?);
            match usize::try_from(r).ok().and_then(|r| by_rank.get_mut(r)) {
                Some(slot) => *slot = n,
                None => revoked = n,
            }
        }
        Ok((by_rank, revoked))
    }

    /// One page of runners with their state, problems first — the order and filters of
    /// [`crate::readiness::readiness`], computed by the database so that a page costs the same with
    /// ten thousand runners as with ten. Returns the number of matching runners and the page.
    pub async fn list_runners(&self, filter: &ListFilter) -> Result<RunnerPage, StoreError> {
        let rank = format!("CASE {} END", rank_arms(filter.now_ms - filter.ages.never_reported_after_ms));
        let pattern = filter.text.as_ref().map(|t| {
            let escaped = t.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let text_condition =
            |n: usize| format!("(LOWER(r.name) LIKE ${n} ESCAPE '\\' OR LOWER(r.id) LIKE ${n} ESCAPE '\\')");
        let stale_before = filter.now_ms - filter.ages.stale_after_ms;

        // How many runners of each readiness match the text filter.
        let count_sql = format!(
            "SELECT {rank} AS rank, COUNT(*) AS n FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id \
             WHERE {} GROUP BY 1",
            if pattern.is_some() { text_condition(2) } else { "1 = 1".to_owned() }
        );
        let mut count = sqlx::query(&count_sql).bind(stale_before);
        if let Some(p) = &pattern {
            count = count.bind(p.clone());
        }
        let mut by_rank = [0i64; RANKS];
        for row in count.fetch_all(&self.pool).await? {
            let (r, n): (i64, i64) = (row.try_get("rank")?, row.try_get("n")?);
            if let Some(slot) = usize::try_from(r).ok().and_then(|r| by_rank.get_mut(r)) {
                *slot = n;
            }
        }

        // The page itself.
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut next = 2;
        if filter.rank.is_some() {
            conditions.push(format!("{rank} = ${next}"));
            next += 1;
        }
        if pattern.is_some() {
            conditions.push(text_condition(next));
            next += 1;
        }
        let page_sql = format!(
            "{RUNNER_WITH_STATE} WHERE {} ORDER BY {rank}, r.name, r.id LIMIT ${next} OFFSET ${}",
            conditions.join(" AND "),
            next + 1
        );
        let mut page = sqlx::query(&page_sql).bind(stale_before);
        if let Some(rank) = filter.rank {
            page = page.bind(rank);
        }
        if let Some(p) = pattern {
            page = page.bind(p);
        }
        let rows = page.bind(filter.limit).bind(filter.offset).fetch_all(&self.pool).await?;
        let runners = rows
            .iter()
            .map(|r| Ok(RunnerRow { runner: runner_of(r)?, state: state_of(r)? }))
            .collect::<Result<_, StoreError>>()?;
        let total = match filter.rank {
            Some(r) => usize::try_from(r).ok().and_then(|r| by_rank.get(r)).copied().unwrap_or(0),
            None => by_rank.iter().sum(),
        };
        Ok(RunnerPage { total, by_rank, runners })
    }

    /// The fleet view, computed by the database from `runner_endpoints`: per service, region and
    /// access type how many runners reach it fully, partly, not; the degraded endpoints grouped by
    /// cause (service, region, reachability, access type, failing phase and outcome) with what the
    /// runners of each cause share; and the finest groups (each cause by subnet, zone, VPC,
    /// account), most runners first. Three GROUP BY queries and a count, whatever the fleet's size.
    pub async fn fleet(&self, filter: &FleetFilter) -> Result<FleetData, StoreError> {
        // Freshness is the runner's (its state's last report), not the row's: rows are written only
        // when a runner's network changes. The stale runners are the few to leave out (a set to
        // probe that is small, where the fresh ones would be nearly all).
        let mut conditions =
            vec!["runner_id NOT IN (SELECT runner_id FROM runner_state WHERE last_received_at < $1)".to_owned()];
        let mut next = 2;
        for (column, value) in [("region", &filter.region), ("service", &filter.service)] {
            if value.is_some() {
                conditions.push(format!("{column} = ${next}"));
                next += 1;
            }
        }
        let filtered = conditions.join(" AND ");
        fn bind<'q>(
            sql: &'q str,
            filter: &FleetFilter,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
            let mut q = sqlx::query(sql).bind(filter.fresh_since_ms);
            for v in [&filter.region, &filter.service].into_iter().flatten() {
                q = q.bind(v.clone());
            }
            q
        }
        let count = |reach: &str| format!("SUM(CASE WHEN reachability = '{reach}' THEN 1 ELSE 0 END) AS {reach}_n");
        let sql = format!(
            "SELECT service, region, access_type, {}, {}, {} FROM runner_endpoints WHERE {filtered} \
             GROUP BY service, region, access_type ORDER BY service, region, access_type",
            count("full"),
            count("partial"),
            count("none")
        );
        const CAUSE: &str = "service, region, reachability, access_type, phase, outcome";
        let shared = |c: &str| format!("COUNT(DISTINCT {c}) AS {c}_distinct, COUNT({c}) AS {c}_known, MIN({c}) AS {c}");
        let cause_sql = format!(
            "SELECT {CAUSE}, COUNT(*) AS n, {}, {}, {}, {}, MIN(hint) AS hint, MIN(finding) AS finding \
             FROM runner_endpoints WHERE reachability <> 'full' AND {filtered} GROUP BY {CAUSE} \
             ORDER BY n DESC, {CAUSE} LIMIT ${next}",
            shared("subnet_cidr"),
            shared("availability_zone"),
            shared("vpc_id"),
            shared("account_id"),
        );
        const WHERE: &str = "subnet_cidr, availability_zone, vpc_id, account_id";
        let group_sql = format!(
            "SELECT {CAUSE}, {WHERE}, COUNT(*) AS n, MIN(hint) AS hint FROM runner_endpoints WHERE reachability <> 'full' AND {filtered} \
             GROUP BY {CAUSE}, {WHERE} ORDER BY n DESC, {CAUSE}, {WHERE} LIMIT ${next}"
        );
        // The runners themselves: how many, how many never reported, are stale, are degraded.
        let runners_query = sqlx::query(
            "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN s.runner_id IS NULL THEN 1 ELSE 0 END), 0) AS never, \
             COALESCE(SUM(CASE WHEN s.last_received_at < $1 THEN 1 ELSE 0 END), 0) AS stale, \
             COALESCE(SUM(CASE WHEN s.last_received_at >= $1 AND s.status <> 'ready' THEN 1 ELSE 0 END), 0) AS degraded \
             FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id",
        )
        .bind(filter.stale_before_ms)
        .fetch_one(&self.pool);
        // Four queries at once, each on its own pooled connection (SQLite's WAL lets readers run
        // side by side): the page waits for the slowest, not for the sum.
        let (reach, causes, groups, row) = tokio::try_join!(
            bind(&sql, filter).fetch_all(&self.pool),
            bind(&cause_sql, filter).bind(filter.limit).fetch_all(&self.pool),
            bind(&group_sql, filter).bind(filter.limit).fetch_all(&self.pool),
            runners_query,
        )?;
        let reach = reach
            .iter()
            .map(|r| {
                Ok(ReachCount {
                    service: r.try_get("service")?,
                    region: r.try_get("region")?,
                    access_type: r.try_get("access_type")?,
                    full: r.try_get("full_n")?,
                    partial: r.try_get("partial_n")?,
                    none: r.try_get("none_n")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let causes = causes
            .iter()
            .map(|r| {
                let share = |c: &str| -> Result<Shared, StoreError> {
                    Ok(Shared {
                        distinct: r.try_get(format!("{c}_distinct").as_str())?,
                        known: r.try_get(format!("{c}_known").as_str())?,
                        one: r.try_get(c)?,
                    })
                };
                Ok(CauseRow {
                    key: cause_key(r)?,
                    runners: r.try_get("n")?,
                    subnet_cidr: share("subnet_cidr")?,
                    availability_zone: share("availability_zone")?,
                    vpc_id: share("vpc_id")?,
                    account_id: share("account_id")?,
                    hint: r.try_get("hint")?,
                    finding: r.try_get("finding")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let groups = groups
            .iter()
            .map(|r| {
                Ok(GroupRow {
                    key: cause_key(r)?,
                    runners: r.try_get("n")?,
                    subnet_cidr: r.try_get("subnet_cidr")?,
                    availability_zone: r.try_get("availability_zone")?,
                    vpc_id: r.try_get("vpc_id")?,
                    account_id: r.try_get("account_id")?,
                    hint: r.try_get("hint")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let runners = FleetRunners {
            total: row.try_get("total")?,
            never_reported: row.try_get("never")?,
            stale: row.try_get("stale")?,
            degraded: row.try_get("degraded")?,
        };
        Ok(FleetData { runners, reach, causes, groups })
    }

    /// Per runner of `ids`: of its checks since `day_since_ms` and since `week_since_ms`, how many
    /// and how many ready. One query over the `checks` primary key; runners without checks in the
    /// week are absent.
    pub async fn uptime(&self, ids: &[&str], day_since_ms: i64, week_since_ms: i64) -> Result<Vec<Uptime>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT runner_id, \
             SUM(CASE WHEN checked_at_ms >= $1 THEN 1 ELSE 0 END) AS day_n, \
             SUM(CASE WHEN checked_at_ms >= $1 AND status = 'ready' THEN 1 ELSE 0 END) AS day_ready, \
             COUNT(*) AS week_n, SUM(CASE WHEN status = 'ready' THEN 1 ELSE 0 END) AS week_ready \
             FROM checks WHERE checked_at_ms >= $2 AND runner_id IN ({}) GROUP BY runner_id",
            (3..3 + ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(&sql).bind(day_since_ms).bind(week_since_ms);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Uptime {
                    runner_id: r.try_get("runner_id")?,
                    day: (r.try_get("day_ready")?, r.try_get("day_n")?),
                    week: (r.try_get("week_ready")?, r.try_get("week_n")?),
                })
            })
            .collect()
    }

    /// The statuses of the checks of `ids` since `since_ms`, oldest first: (runner id, time, status).
    pub async fn recent_statuses(&self, ids: &[&str], since_ms: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT runner_id, checked_at_ms, status FROM checks WHERE checked_at_ms >= $1 AND runner_id IN ({}) \
             ORDER BY runner_id, checked_at_ms",
            (2..2 + ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(&sql).bind(since_ms);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("runner_id")?, r.try_get("checked_at_ms")?, r.try_get("status")?)))
            .collect()
    }

    /// A runner with its state.
    pub async fn runner_row(&self, id: &str) -> Result<Option<RunnerRow>, StoreError> {
        let sql = format!("{RUNNER_WITH_STATE} WHERE r.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(RunnerRow { runner: runner_of(&r)?, state: state_of(&r)? })).transpose()
    }

    /// Every runner with its state, in name order.
    pub async fn runners(&self) -> Result<Vec<RunnerRow>, StoreError> {
        let sql = format!("{RUNNER_WITH_STATE} ORDER BY r.name, r.id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(RunnerRow { runner: runner_of(r)?, state: state_of(r)? })).collect()
    }

    /// A runner and the body of the report its state names, read together: a page never shows a
    /// state from one moment beside a report from another.
    pub async fn runner_with_report(&self, id: &str) -> Result<Option<(RunnerRow, Option<String>)>, StoreError> {
        let sql = RUNNER_WITH_STATE.replacen("SELECT ", "SELECT b.body, ", 1)
            + " LEFT JOIN latest_reports b ON b.runner_id = s.runner_id AND b.checked_at_ms = s.checked_at_ms \
               WHERE r.id = $1";
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| Ok((RunnerRow { runner: runner_of(&r)?, state: state_of(&r)? }, r.try_get("body")?))).transpose()
    }

    pub async fn changes(&self, id: &str, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, from_status, to_status FROM status_changes WHERE runner_id = $1 ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    at_ms: r.try_get("at_ms")?,
                    from_status: r.try_get("from_status")?,
                    to_status: r.try_get("to_status")?,
                })
            })
            .collect()
    }

    pub async fn recent_reports(&self, id: &str, limit: i64) -> Result<Vec<ReportSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT checked_at_ms, received_at, status, degraded, summary FROM checks WHERE runner_id = $1 \
             ORDER BY checked_at_ms DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportSummary {
                    checked_at: rfc3339_ms(r.try_get("checked_at_ms")?),
                    received_at: r.try_get("received_at")?,
                    status: r.try_get("status")?,
                    degraded: r.try_get("degraded")?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect()
    }

    /// Bytes the database takes for reports: on SQLite the whole file after a WAL checkpoint, on
    /// PostgreSQL every table that holds reports, with its indexes and TOAST, after a `VACUUM`.
    /// For the storage benchmark.
    pub async fn report_storage_bytes(&self) -> Result<i64, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&self.pool).await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&self.pool).await?;
                Ok(pages * size)
            }
            Backend::Postgres => {
                let mut total = 0;
                for table in HISTORY_TABLES {
                    sqlx::raw_sql(&format!("VACUUM {table}")).execute(&self.pool).await?;
                    total += sqlx::query_scalar::<_, i64>(&format!("SELECT pg_total_relation_size('{table}')::BIGINT"))
                        .fetch_one(&self.pool)
                        .await?;
                }
                Ok(total)
            }
        }
    }

    /// How many of a runner's past reports keep their full body in history (the first of each
    /// run, and late reports); the newest report's body is kept besides, in `latest_reports`.
    pub async fn count_bodies(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM history_bodies WHERE runner_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// When each of a runner's fleet rows was written (the `checked_at_ms` of the report that
    /// wrote it), in service order. For tests: a steady network must not rewrite them.
    #[doc(hidden)]
    pub async fn fleet_rows_written(&self, id: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT checked_at_ms FROM runner_endpoints WHERE runner_id = $1 ORDER BY service",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_reports(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM checks WHERE runner_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Stores a report; waits until it is committed.
    pub async fn store_report(&self, report: NewReport) -> Result<Stored, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.send((report, tx)).await.map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?.map_err(StoreError::Write)
    }

    /// Records a new dashboard session (its id's hash) valid until `expires_at`.
    pub async fn create_session(&self, id_hash: &str, now: i64, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $2, $3)")
            .bind(id_hash)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a session is alive: not expired, and seen within `idle_ms`. A live session's
    /// last-seen time moves forward (at most once a minute, to spare the database).
    pub async fn touch_session(&self, id_hash: &str, now: i64, idle_ms: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT last_seen_at, expires_at FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let (last_seen, expires): (i64, i64) = (row.try_get("last_seen_at")?, row.try_get("expires_at")?);
        if now >= expires || now - last_seen > idle_ms {
            self.delete_session(id_hash).await?;
            return Ok(false);
        }
        if now - last_seen > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(true)
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(())
    }

    /// Whether the database answers, within `within` (for `/readyz`).
    pub async fn ping(&self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, sqlx::query("SELECT 1").execute(&self.pool)).await, Ok(Ok(_)))
    }

    /// Whether the report writer task is running (for `/readyz`).
    pub fn writer_alive(&self) -> bool {
        !self.writer.is_closed()
    }

    /// Deletes checks (with their bodies) and status changes from before `before_ms`, except each
    /// runner's newest check. Returns how many checks went.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM checks WHERE checked_at_ms < $1 AND NOT EXISTS (SELECT 1 FROM runner_state s \
             WHERE s.runner_id = checks.runner_id AND s.checked_at_ms = checks.checked_at_ms)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM history_bodies WHERE checked_at_ms < $1").bind(before_ms).execute(&self.pool).await?;
        sqlx::query("DELETE FROM status_changes WHERE at_ms < $1").bind(before_ms).execute(&self.pool).await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now_ms()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

fn runner_of(r: &sqlx::any::AnyRow) -> Result<Runner, StoreError> {
    Ok(Runner {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn state_of(r: &sqlx::any::AnyRow) -> Result<Option<State>, StoreError> {
    let checked_at: Option<String> = r.try_get("checked_at")?;
    let Some(checked_at) = checked_at else {
        return Ok(None);
    };
    Ok(Some(State {
        checked_at,
        checked_at_ms: r.try_get("checked_at_ms")?,
        status: r.try_get("status")?,
        degraded: r.try_get("degraded")?,
        last_received_at: r.try_get("last_received_at")?,
    }))
}

async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    migrate_up_to(pool, backend, i64::MAX).await
}

/// Applies the database's schema up to `version` only, and nothing else: for tests of a
/// migration over data that an older plane wrote. Not a way to run a plane on an old schema.
#[doc(hidden)]
pub async fn migrate_database_up_to(database: &str, version: i64) -> Result<(), StoreError> {
    install_default_drivers();
    let (url, backend) = database_url(database)?;
    let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
    let done = migrate_up_to(&pool, backend, version).await;
    pool.close().await;
    done
}

async fn migrate_up_to(pool: &AnyPool, backend: Backend, up_to: i64) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        // Several replicas may start at once: one migrates, the others wait.
        sqlx::query("SELECT pg_advisory_lock(7270766)").execute(&mut *conn).await?;
    }
    let result = async {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS netready_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        for Migration { version, name, sqlite, postgres } in MIGRATIONS.iter().filter(|m| m.version <= up_to) {
            let sql = if backend == Backend::Postgres { postgres } else { sqlite };
            let checksum = hex(&Sha256::digest(sql.as_bytes()));
            let applied: Option<String> =
                sqlx::query_scalar("SELECT checksum FROM netready_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *conn)
                    .await?;
            match applied {
                Some(sum) if sum == checksum => continue,
                Some(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "migration {version} ({name}) differs from the one applied to this database: \
                         migrations must never be edited once shipped"
                    )));
                }
                None => {}
            }
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO netready_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(*version)
            .bind(*name)
            .bind(checksum)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }
    .await;
    if backend == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock(7270766)").execute(&mut *conn).await;
    }
    result
}

/// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first and then writes fails with "database is locked" when
/// another connection (the alert worker, the stale sweep) committed in between, where an
/// immediate one waits its turn (sqlx's busy timeout). PostgreSQL needs no such thing.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// The writer task: takes what is queued, commits it in one transaction, answers each request.
async fn writer(
    pool: AnyPool,
    backend: Backend,
    mut rx: mpsc::Receiver<Job>,
    metrics: std::sync::Arc<crate::observe::Metrics>,
    alerts: alerts::AlertShared,
) {
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

/// `($1, $2, …), ($k+1, …)`: placeholders for `rows` rows of `cols` columns, numbered from 1.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A runner's state while a batch is applied.
#[derive(Debug, Clone)]
struct Current {
    checked_at: String,
    checked_at_ms: i64,
    status: String,
    degraded: String,
    fingerprint: String,
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
                status: row.try_get("status")?,
                degraded: row.try_get("degraded")?,
                fingerprint: row.try_get("fingerprint")?,
            },
        );
    }

    // Walk each runner's reports in time order. A report newer than the state becomes the state
    // (it cannot be stored already: the state is the newest stored) and the runner's latest body;
    // a different status is a change. A report that differs from the one before it in more than
    // timings starts a run, and its body is kept in history; one equal but for timings continues
    // the run, and history keeps only its compact row. Older reports are history only, kept whole.
    let mut per_runner: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in fresh.iter().enumerate() {
        per_runner.entry(r.runner_id.as_str()).or_default().push(i);
    }
    let mut run_start = vec![true; fresh.len()];
    let mut states: Vec<(&str, Current)> = Vec::new();
    let mut latest: Vec<usize> = Vec::new();
    let mut changes: Vec<(&str, i64, Option<String>, String)> = Vec::new();
    // Alerts: every report that moves a runner's state, per runner in time order.
    let mut observed: Vec<usize> = Vec::new();
    for (id, mut indexes) in per_runner {
        indexes.sort_by_key(|i| fresh[*i].checked_at_ms);
        let mut state = current.get(id).cloned();
        let mut newest: Option<usize> = None;
        for i in indexes {
            let r = fresh[i];
            if state.as_ref().is_some_and(|s| s.checked_at_ms >= r.checked_at_ms) {
                continue;
            }
            let previous = state.as_ref().map(|s| s.status.clone());
            if previous.as_deref() != Some(r.status.as_str()) {
                changes.push((id, r.checked_at_ms, previous, r.status.clone()));
            }
            run_start[i] = !state.as_ref().is_some_and(|s| !r.fingerprint.is_empty() && s.fingerprint == r.fingerprint);
            state = Some(Current {
                checked_at: r.checked_at.clone(),
                checked_at_ms: r.checked_at_ms,
                status: r.status.clone(),
                degraded: r.degraded.clone(),
                fingerprint: r.fingerprint.clone(),
            });
            newest = Some(i);
            observed.push(i);
        }
        // Only a newer report moves the state (and the runner's freshness): a late or
        // backfilled one is history only.
        if let (Some(i), Some(state)) = (newest, state) {
            states.push((id, state));
            latest.push(i);
        }
    }

    // Alerts: the trackers and notifications these reports cause, in this transaction.
    let alerts = alerts::plan_batch(&mut tx, &fresh, &observed, policy).await?;
    let plan = Plan { fresh, run_start, latest, states, changes, received };
    let inserted = match backend {
        Backend::Sqlite => plan.apply_sqlite(&mut tx).await?,
        Backend::Postgres => plan.apply_postgres(&mut tx).await?,
    };
    alerts.apply(&mut tx).await?;
    tx.commit().await?;
    Ok((stored_of(batch, &firsts, &inserted), alerts.notifies()))
}

/// What a batch writes, decided from the runners' current state.
struct Plan<'a> {
    /// The batch's reports, without the repeats within it.
    fresh: Vec<&'a NewReport>,
    /// Per report of `fresh`: whether it starts a run (its body is kept in history).
    run_start: Vec<bool>,
    /// Indexes into `fresh` of each advancing runner's newest report.
    latest: Vec<usize>,
    states: Vec<(&'a str, Current)>,
    changes: Vec<(&'a str, i64, Option<String>, String)>,
    received: i64,
}

type Inserted = std::collections::HashSet<(String, i64)>;

impl Plan<'_> {
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
        let mut q = sqlx::query(&sql);
        for (i, r) in self.fresh.iter().enumerate() {
            q = q
                .bind(&r.runner_id)
                .bind(r.checked_at_ms)
                .bind(self.received)
                .bind(i16::from(self.run_start[i]))
                .bind(&r.status)
                .bind(&r.degraded)
                .bind(&r.summary);
        }
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
            let mut q = sqlx::query(&sql);
            for (id, s) in &self.states {
                q = q
                    .bind(*id)
                    .bind(&s.checked_at)
                    .bind(s.checked_at_ms)
                    .bind(&s.status)
                    .bind(&s.degraded)
                    .bind(self.received)
                    .bind(&s.fingerprint);
            }
            q.execute(&mut **tx).await?;
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
                q = q.bind(*id).bind(*at).bind(from.clone()).bind(to);
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
        let mut q = sqlx::query(&sql);
        for (i, r) in self.fresh.iter().enumerate() {
            q = q
                .bind(&r.runner_id)
                .bind(r.checked_at_ms)
                .bind(self.received)
                .bind(i16::from(self.run_start[i]))
                .bind(&r.status)
                .bind(&r.degraded)
                .bind(&r.summary);
        }
        for r in &kept {
            q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
        }
        for i in &self.latest {
            let r = self.fresh[*i];
            q = q.bind(&r.runner_id).bind(r.checked_at_ms).bind(&r.body);
        }
        for (id, s) in &self.states {
            q = q
                .bind(*id)
                .bind(&s.checked_at)
                .bind(s.checked_at_ms)
                .bind(&s.status)
                .bind(&s.degraded)
                .bind(self.received)
                .bind(&s.fingerprint);
        }
        for (id, at, from, to) in &self.changes {
            q = q.bind(*id).bind(*at).bind(from.clone()).bind(to);
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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }

    #[test]
    fn database_urls() {
        assert_eq!(database_url("plane.db").unwrap(), ("sqlite://plane.db?mode=rwc".into(), Backend::Sqlite));
        assert_eq!(database_url("postgres://u:p@h/db").unwrap().1, Backend::Postgres);
        assert!(database_url("mysql://u:secret@h/db").unwrap_err().to_string().contains("mysql://u:***@h/db"));
        assert!(database_url("").is_err());
    }

    #[test]
    fn a_missing_ca_bundle_is_named_before_connecting() {
        assert!(check_root_cert("postgres://u:p@db/x?sslmode=require").is_ok());
        let e = check_root_cert("postgres://u:s3cret@db/x?sslmode=verify-full&sslrootcert=/no%20such/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslrootcert=/no such/ca.pem") && e.contains(RDS_CA_BUNDLE), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(redact("postgres://netready:s3cret@db:5432/plane"), "postgres://netready:***@db:5432/plane");
        assert_eq!(redact("plane.db"), "plane.db");
    }
}
