//! `netready check`: one check, printed as a table or JSON; the exit code says ready or degraded.

use std::process::ExitCode;
use std::time::Instant;

use netready_check::{Status, render};

use crate::cli::{CheckArgs, Output};
use crate::exit::{env, runtime};

/// `started` is the process's start: the deadline (`--timeout`) counts from it.
pub fn run(args: &CheckArgs, matches: &clap::ArgMatches, started: Instant) -> anyhow::Result<ExitCode> {
    // The TLS probe is built here, so a bad --ca-file is a configuration error (also for --check-config).
    let (settings, tls) = args.probe.raw(matches).validate_with_tls(&env)?;
    if args.check_config.check_config {
        settings.require_region(&env)?;
        print!("netready check: settings are valid\n{}", settings.describe());
        println!("output:          {}", format!("{:?}", args.output).to_lowercase());
        return Ok(ExitCode::SUCCESS);
    }
    let network = netready_aws::network::AwsNetwork::new(settings.aws_api);
    let checked =
        runtime(false)?.block_on(netready_check::check_once(&settings, &env, tls.as_ref(), &network, started))?;
    let report = &checked.report;
    match args.output {
        Output::Table => print!("{}", render::table(report)),
        Output::Json => println!("{}", report.to_json_pretty()),
    }
    // --aws-api required and the network could not be read: not the check that was asked for.
    Ok(match report.status {
        Status::Ready if !checked.discovered.required_but_unread() => ExitCode::SUCCESS,
        Status::Ready | Status::Degraded => ExitCode::from(1),
    })
}
