//! Migrations: files embedded in the binary, applied in order at start, each once, never edited
//! once shipped (a checksum holds that).

use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use super::error::StoreError;
use super::types::Backend;
use crate::ids::hex;
use crate::time::now_ms;

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
        sqlite: include_str!("../../migrations/0001_init.sql"),
        postgres: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "report_compression",
        sqlite: include_str!("../../migrations/0002_report_compression.sqlite.sql"),
        postgres: include_str!("../../migrations/0002_report_compression.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "sessions",
        sqlite: include_str!("../../migrations/0003_sessions.sql"),
        postgres: include_str!("../../migrations/0003_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "compact_history",
        sqlite: include_str!("../../migrations/0004_compact_history.sqlite.sql"),
        postgres: include_str!("../../migrations/0004_compact_history.postgres.sql"),
    },
    Migration {
        version: 5,
        name: "checks",
        sqlite: include_str!("../../migrations/0005_checks.sqlite.sql"),
        postgres: include_str!("../../migrations/0005_checks.postgres.sql"),
    },
    Migration {
        version: 6,
        name: "runner_endpoints",
        sqlite: include_str!("../../migrations/0006_runner_endpoints.sql"),
        postgres: include_str!("../../migrations/0006_runner_endpoints.sql"),
    },
    Migration {
        version: 7,
        name: "alerts",
        sqlite: include_str!("../../migrations/0007_alerts.sql"),
        postgres: include_str!("../../migrations/0007_alerts.sql"),
    },
    Migration {
        version: 8,
        name: "alert_expiry",
        sqlite: include_str!("../../migrations/0008_alert_expiry.sql"),
        postgres: include_str!("../../migrations/0008_alert_expiry.sql"),
    },
    Migration {
        version: 9,
        name: "alert_routing",
        sqlite: include_str!("../../migrations/0009_alert_routing.sql"),
        postgres: include_str!("../../migrations/0009_alert_routing.sql"),
    },
    Migration {
        version: 10,
        name: "alert_silences",
        sqlite: include_str!("../../migrations/0010_alert_silences.sql"),
        postgres: include_str!("../../migrations/0010_alert_silences.sql"),
    },
];

pub(super) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    migrate_up_to(pool, backend, i64::MAX).await
}

pub(super) async fn migrate_up_to(pool: &AnyPool, backend: Backend, up_to: i64) -> Result<(), StoreError> {
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
