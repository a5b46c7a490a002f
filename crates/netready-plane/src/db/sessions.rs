//! Dashboard sessions: only the hash of a session id is stored.

use sqlx::Row;

use super::error::StoreError;
use super::store::Store;

impl Store {
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
}
