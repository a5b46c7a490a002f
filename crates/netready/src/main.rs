//! The `netready` binary: parse, dispatch, map the outcome to an exit code (0 ready, 1 degraded,
//! 2 usage or configuration error). The work lives in the library crates.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, FromArgMatches};
use netready_check::dial::TcpDialer;
use netready_check::{Status, render};

use cli::{CheckArgs, Cli, Command, Output};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match &cli.command {
        Command::Check(args) => check(
            args,
            matches.subcommand_matches("check").unwrap_or(&matches),
        ),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("netready: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn check(args: &CheckArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let settings = args.probe.raw(matches).validate(&env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let report = runtime.block_on(netready_check::check_once(&settings, &env, &TcpDialer))?;
    match args.output {
        Output::Table => print!("{}", render::table(&report)),
        Output::Json => println!("{}", report.to_json_pretty()),
    }
    Ok(match report.status {
        Status::Ready => ExitCode::SUCCESS,
        Status::Degraded => ExitCode::from(1),
    })
}
