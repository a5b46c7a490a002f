//! `netready check`: one check, printed as a table or JSON; the exit code says ready or degraded.

use std::fmt::Write as _;
use std::process::ExitCode;

use netready_check::{Settings, SettingsError, Status, render};

use crate::cli::{CheckArgs, Output};
use crate::exit::{env, runtime};

pub fn run(args: &CheckArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    // The TLS probe is built here, so a bad --ca-file is a configuration error (also for --check-config).
    let (settings, tls) = args.probe.raw(matches).validate_with_tls(&env)?;
    if args.check_config.check_config {
        require_region(&settings)?;
        print!("netready check: settings are valid\n{}", describe(&settings));
        println!("output:          {}", format!("{:?}", args.output).to_lowercase());
        return Ok(ExitCode::SUCCESS);
    }
    let network = netready_aws::network::AwsNetwork::new(settings.aws_api);
    let checked = runtime(false)?.block_on(netready_check::check_once(&settings, &env, tls.as_ref(), &network))?;
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

/// `--check-config`: without a region and outside a task, the real run would fail the same way.
pub fn require_region(settings: &Settings) -> Result<(), SettingsError> {
    if settings.region.is_none() && env(netready_check::metadata::METADATA_URI_VAR).is_none() {
        return Err(SettingsError::NoRegion);
    }
    Ok(())
}

/// The resolved check settings, one per line, for `--check-config`.
pub fn describe(s: &Settings) -> String {
    let from_metadata = "(from task metadata)".to_owned();
    let mut out = String::new();
    let _ = writeln!(out, "region:          {}", s.region.as_ref().map_or(from_metadata.clone(), ToString::to_string));
    let _ = writeln!(
        out,
        "ecr registry id: {}",
        s.registry_id.as_ref().map_or("(the task's account, from task metadata)".to_owned(), ToString::to_string)
    );
    let public_ip = s.public_ip.map_or("unknown".to_owned(), |b| b.to_string());
    let _ = writeln!(out, "public ip:       {public_ip}");
    let cidrs: Vec<String> = s.vpc_cidrs.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "vpc cidrs:       {}", if cidrs.is_empty() { "none".to_owned() } else { cidrs.join(",") });
    let _ = writeln!(out, "timeout:         {}", humantime_like(s.timeout));
    let _ = writeln!(out, "port:            {}", s.port);
    let _ = writeln!(out, "tls:             {}", s.tls);
    let ca = s.ca_file.as_ref().map_or("none (system trust store only)".to_owned(), |p| p.display().to_string());
    let _ = writeln!(out, "ca file:         {ca}");
    let ipv6 = s.ipv6.map_or("(from task metadata)".to_owned(), |b| b.to_string());
    let _ = writeln!(out, "ipv6:            {ipv6}");
    let _ = writeln!(out, "aws api:         {}", s.aws_api.as_str());
    out
}

fn humantime_like(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
