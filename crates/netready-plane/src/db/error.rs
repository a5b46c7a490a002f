//! Why the store could not do what was asked, by who can act on it.

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
