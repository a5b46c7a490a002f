//! The `netready` binary: parse, dispatch, map the outcome to an exit code (0 ready, 1 degraded,
//! 2 usage or configuration error). The work lives in the library crates; `network` is the glue
//! between the check and the AWS SDK.

mod agent;
mod check;
mod cli;
mod diagnose;
mod endpoints;
mod healthcheck;
mod network;
mod plane;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sub = |name| matches.subcommand_matches(name).unwrap_or(&matches);
    let result = match &cli.command {
        Command::Check(args) => check::run(args, sub("check")),
        Command::Agent(args) => agent::run(args, sub("agent")),
        Command::Plane(cmd) => plane::run(cmd, sub("plane")),
        Command::Endpoints(args) => endpoints::run(args, sub("endpoints")),
        Command::Healthcheck(args) => healthcheck::run(args),
        Command::Diagnose(args) => diagnose::run(args, sub("diagnose")),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("netready: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A configuration problem (exit code 2) as opposed to a failure at run time (also 2, but worded
/// by the library that failed).
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A single-threaded runtime for the check and the agent (small, predictable); the plane serves
/// on all cores.
pub fn runtime(multi_thread: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().context("cannot start the async runtime")
}
