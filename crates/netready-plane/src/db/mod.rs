//! Storage: SQLite (one file, the default) or PostgreSQL (for several plane replicas), through
//! one portable set of queries. Migrations are files embedded in the binary and applied at start.
//!
//! Writes of reports go through one writer task that commits them in batches: every request
//! still waits for its own commit (a 2xx means durably stored), but concurrent requests share an
//! fsync instead of queueing for one each.
//!
//! One module per concern: [`store`] opens and closes, [`migrate`] migrates, [`runners`],
//! [`sessions`], [`queries`] read and administer, [`writer`] commits reports (its planner is a pure
//! function), [`alerts`] and [`silences`] hold the alert outbox. This file only declares them and
//! names what the rest of the plane uses; none of them imports from it.

pub mod alert_types;
pub mod alerts;
pub mod columns;
pub mod error;
pub mod hooks;
pub mod migrate;
pub mod outbox;
pub mod plan;
pub mod queries;
pub mod runners;
pub mod sessions;
pub mod silences;
pub mod sql;
pub mod store;
pub mod types;
pub mod writer;

pub use crate::ids::hex;
pub use crate::time::{now_ms, rfc3339_ms};
pub use error::StoreError;
pub use hooks::{AlertHooks, StoreHooks};
pub use store::{RDS_CA_BUNDLE, Store, database_url, migrate_database_up_to, redact};
pub use types::*;
