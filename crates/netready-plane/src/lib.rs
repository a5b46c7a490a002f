//! netready's management plane: runners report their network readiness here; people read it on
//! the dashboard and machines through the API.
//!
//! [`db`] stores (SQLite or PostgreSQL), [`api`] answers `/api/v1`, [`dashboard`] renders pages,
//! [`readiness`] decides ready/degraded/stale/unknown. [`app`] builds the router from a state, so
//! tests drive it without a socket; [`serve`] runs it. `docs/architecture.md` draws the modules
//! and the path of a report through them.
//!
//! This file only declares the modules and names the crate's public face: no module imports
//! from it (the test `crates/netready/tests/no_cycles.rs` holds every crate to modules that import one way).

pub mod access;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod fleet;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod names;
pub mod ops;
pub mod proxy;
pub mod readiness;
pub mod runner_id;
pub mod runners;
pub mod server;
pub mod state;
pub mod time;
pub mod tls;

pub use config::{
    AlertConfig, DEFAULT_BODY_LIMIT, DEFAULT_DATABASE, DEFAULT_LISTEN, DEFAULT_NEVER_REPORTED_AFTER, DEFAULT_RETENTION,
    DEFAULT_STALE_AFTER, ServeConfig,
};
pub use db::{Store, StoreError};
pub use runner_id::RunnerId;
pub use runners::add_runner;
pub use server::{PlaneError, app, serve};
pub use state::{AppState, Schemas};
