//! SQL helpers shared by the store's modules: numbered placeholders and a write transaction.

use sqlx::AnyPool;

use super::types::Backend;

/// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first and then writes fails with "database is locked" when
/// another connection (the alert worker, the stale sweep) committed in between, where an
/// immediate one waits its turn (sqlx's busy timeout). PostgreSQL needs no such thing.
pub(super) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// `($1, $2, …), ($k+1, …)`: placeholders for `rows` rows of `cols` columns, numbered from 1.
pub(super) fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
