//! The `netready` binary: parse, dispatch, map the outcome to an exit code (0 ready, 1 degraded,
//! 2 usage or configuration error). The work lives in the library crates.

mod agent;
mod check;
mod cli;
mod diagnose;
mod endpoints;
mod exit;
mod healthcheck;
mod plane;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};

fn main() -> ExitCode {
    // A one-shot check's deadline counts from here: the process's start-up is part of the wait.
    let started = std::time::Instant::now();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sub = |name| matches.subcommand_matches(name).unwrap_or(&matches);
    let result = match &cli.command {
        Command::Check(args) => check::run(args, sub("check"), started),
        Command::Agent(args) => agent::run(args, sub("agent")),
        Command::Plane(cmd) => plane::run(cmd, sub("plane")),
        Command::Endpoints(args) => endpoints::run(args, sub("endpoints")),
        Command::Healthcheck(args) => healthcheck::run(args, sub("healthcheck")),
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
