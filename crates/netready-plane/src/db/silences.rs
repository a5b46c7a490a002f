//! Silences' storage. Which changes they hold back is decided where the outbox is written
//! (`db::outbox`), with `active_in` in the same transaction.

use super::error::StoreError;
use super::outbox::{SILENCE_COLUMNS as COLUMNS, silence_of};
use super::store::Store;
use crate::alerts::silences::Silence;

impl Store {
    pub async fn add_silence(&self, s: &Silence) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_silences (id, runners, reason, created_at, starts_at, ends_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(&s.runners)
        .bind(&s.reason)
        .bind(s.created_at)
        .bind(s.starts_at)
        .bind(s.ends_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The silences active at `now`, the soonest to end first.
    pub async fn active_silences(&self, now: i64) -> Result<Vec<Silence>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM alert_silences WHERE starts_at <= $1 AND ends_at > $1 ORDER BY ends_at, id");
        let rows = sqlx::query(&sql).bind(now).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(silence_of).collect::<Result<_, _>>()?)
    }

    /// Ends an active silence now; false when there is no such active silence.
    pub async fn end_silence(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE alert_silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the silences that ended before `before_ms`.
    pub async fn prune_silences(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM alert_silences WHERE ends_at < $1").bind(before_ms).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
