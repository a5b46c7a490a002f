//! The store itself: opening it (the database URL, TLS, migrations, the writer task), closing
//! it, and whether it is alive.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use tokio::sync::{mpsc, oneshot};

use super::error::StoreError;
use super::hooks::StoreHooks;
use super::migrate::{migrate, migrate_up_to};
use super::types::{Backend, NewReport, Stored};
use super::writer::{Job, WRITER_QUEUE, writer};

/// The store: a pool for reads and runner administration, a writer task for reports.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    writer: mpsc::Sender<Job>,
    pub(super) hooks: StoreHooks,
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
        Store::open_with(database, StoreHooks::default()).await
    }

    /// [`Store::open`] with the counters and alert hooks `serve` made.
    pub async fn open_with(database: &str, hooks: StoreHooks) -> Result<Store, StoreError> {
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
        tokio::spawn(writer(pool.clone(), backend, rx, hooks.clone()));
        Ok(Store { pool, backend, writer: tx, hooks })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The counters of this store's writer (batch sizes, commit latency), for `/metrics`.
    pub fn metrics(&self) -> std::sync::Arc<crate::metrics::Metrics> {
        self.hooks.metrics.clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Stores a report; waits until it is committed.
    pub async fn store_report(&self, report: NewReport) -> Result<Stored, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.send((report, tx)).await.map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?.map_err(StoreError::Write)
    }

    /// Whether the database answers, within `within` (for `/readyz`).
    pub async fn ping(&self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, sqlx::query("SELECT 1").execute(&self.pool)).await, Ok(Ok(_)))
    }

    /// Whether the report writer task is running (for `/readyz`).
    pub fn writer_alive(&self) -> bool {
        !self.writer.is_closed()
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
