//! `netready check`: one check, printed as a table or JSON; the exit code says ready or degraded.

use std::process::ExitCode;

use netready_check::{Status, render};

use crate::cli::{CheckArgs, Output};
use crate::{env, runtime};

pub fn run(args: &CheckArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let (settings, tls) = args.probe.raw(matches).validate_with_tls(&env)?;
    let report = runtime(false)?.block_on(netready_check::check_once(&settings, &env, tls.as_ref()))?;
    match args.output {
        Output::Table => print!("{}", render::table(&report)),
        Output::Json => println!("{}", report.to_json_pretty()),
    }
    Ok(match report.status {
        Status::Ready => ExitCode::SUCCESS,
        Status::Degraded => ExitCode::from(1),
    })
}
