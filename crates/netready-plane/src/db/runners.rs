//! Runner administration: register, rename, rotate a token, revoke, delete, look up.

use sqlx::Row;

use super::columns::{degraded_of, status_of};
use super::error::StoreError;
use super::store::Store;
use super::types::{Runner, RunnerRow};
use crate::readiness::LastReport;
use crate::time::now_ms;

/// A runner and its state, for lists and details.
pub(super) const RUNNER_WITH_STATE: &str = "SELECT r.id, r.name, r.created_at, r.revoked_at, s.checked_at, s.checked_at_ms, \
     s.status, s.degraded, s.last_received_at FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id";

pub(super) fn runner_of(r: &sqlx::any::AnyRow) -> Result<Runner, StoreError> {
    Ok(Runner {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub(super) fn state_of(r: &sqlx::any::AnyRow) -> Result<Option<LastReport>, StoreError> {
    let checked_at: Option<String> = r.try_get("checked_at")?;
    let Some(checked_at) = checked_at else {
        return Ok(None);
    };
    Ok(Some(LastReport {
        checked_at,
        checked_at_ms: r.try_get("checked_at_ms")?,
        status: status_of(&r.try_get::<String, _>("status")?)?,
        degraded: degraded_of(&r.try_get::<String, _>("degraded")?)?,
        last_received_at: r.try_get("last_received_at")?,
    }))
}

impl Store {
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
}
