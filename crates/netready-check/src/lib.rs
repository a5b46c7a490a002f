//! netready's check: can this AWS Fargate task reach Secrets Manager, CloudWatch Logs, ECR and S3
//! directly over HTTPS, and by which path?
//!
//! The phases, one module each: [`endpoints`] (which hosts), [`dns`] (resolve), [`dial`] (direct
//! TCP), [`classify`] (pure: scope, access type, reachability), [`hints`] (pure: what to fix), and
//! [`report`] (the JSON contract). [`settings`] and [`metadata`] say where the task is; [`check`]
//! runs it all under one deadline; [`network`] applies what the AWS APIs say about
//! the task's network (read by the caller, concurrently); [`render`] draws the table people read.

pub mod check;
pub mod classify;
pub mod dial;
pub mod dns;
pub mod endpoints;
pub mod hints;
pub mod metadata;
pub mod network;
pub mod render;
pub mod report;
pub mod settings;
pub mod tls;
pub mod types;
pub mod vpce;

pub use check::{Checked, check_once, run};
pub use network::{Discovered, NetworkSource, NoNetwork};
pub use report::{Report, Status};
pub use settings::{RawSettings, Settings, SettingsError, Sourced};
