//! `netready plane …`: glue from the command line to `netready-plane`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use netready_plane::config::{RawServeSettings, Sourced};
use netready_plane::{ServeConfig, Store};

use crate::cli::{self, AlertCommand, PlaneCommand, PlaneServeArgs, RunnerCommand};
use crate::exit::{ConfigError, runtime};

pub fn run(cmd: &PlaneCommand, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    match cmd {
        PlaneCommand::Serve(args) => serve(args, matches.subcommand_matches("serve").unwrap_or(matches)),
        PlaneCommand::Runner(cmd) => runner(cmd),
        PlaneCommand::Alert(cmd) => alert(cmd),
    }
}

fn serve(args: &PlaneServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let raw = raw_settings(args, matches);
    let config = ServeConfig::from_raw(&raw).map_err(|e| ConfigError(e.to_string()))?;
    if args.check_config.check_config {
        // Only the form of --database: connecting to it is the real run's business.
        netready_plane::db::database_url(&config.database).map_err(|e| {
            ConfigError(format!(
                "invalid value for {}: {e}",
                cli::origin(matches, "database", "--database", "NETREADY_DATABASE")
            ))
        })?;
        print_settings(&config);
        return Ok(ExitCode::SUCCESS);
    }
    runtime(true)?.block_on(netready_plane::serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// `plane serve`'s settings as given, each with the flag or variable it came from; the plane
/// checks them ([`ServeConfig::from_raw`]).
fn raw_settings(args: &PlaneServeArgs, matches: &clap::ArgMatches) -> RawServeSettings {
    let sourced = |v: &Option<String>, id: &str, flag: &'static str, var: &'static str| {
        v.as_deref().map(|v| cli::sourced(matches, id, flag, var, v))
    };
    let proxies = cli::origin(matches, "trusted_proxy", "--trusted-proxy", "NETREADY_TRUSTED_PROXY");
    RawServeSettings {
        database: args.db.database.clone(),
        listen: Some(Sourced::new(args.listen.as_str(), "--listen")),
        admin_token: std::env::var("NETREADY_ADMIN_TOKEN").unwrap_or_default(),
        stale_after: sourced(&args.stale_after, "stale_after", "--stale-after", "NETREADY_STALE_AFTER"),
        never_reported_after: sourced(
            &args.never_reported_after,
            "never_reported_after",
            "--never-reported-after",
            "NETREADY_NEVER_REPORTED_AFTER",
        ),
        retention: sourced(&args.retention, "retention", "--retention", "NETREADY_RETENTION"),
        ingest_burst: sourced(&args.ingest_burst, "ingest_burst", "--ingest-burst", "NETREADY_INGEST_BURST"),
        ingest_interval: sourced(
            &args.ingest_interval,
            "ingest_interval",
            "--ingest-interval",
            "NETREADY_INGEST_INTERVAL",
        ),
        trusted_proxies: args.trusted_proxy.iter().map(|v| Sourced::new(v.as_str(), proxies)).collect(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        alert_after_checks: sourced(
            &args.alert_after_checks,
            "alert_after_checks",
            "--alert-after-checks",
            "NETREADY_ALERT_AFTER_CHECKS",
        ),
        alert_recover_after_checks: sourced(
            &args.alert_recover_after_checks,
            "alert_recover_after_checks",
            "--alert-recover-after-checks",
            "NETREADY_ALERT_RECOVER_AFTER_CHECKS",
        ),
        alert_min_duration: sourced(
            &args.alert_min_duration,
            "alert_min_duration",
            "--alert-min-duration",
            "NETREADY_ALERT_MIN_DURATION",
        ),
        alert_retry_max: sourced(
            &args.alert_retry_max,
            "alert_retry_max",
            "--alert-retry-max",
            "NETREADY_ALERT_RETRY_MAX",
        ),
        alert_give_up_after: sourced(
            &args.alert_give_up_after,
            "alert_give_up_after",
            "--alert-give-up-after",
            "NETREADY_ALERT_GIVE_UP_AFTER",
        ),
        alert_lease: sourced(&args.alert_lease, "alert_lease", "--alert-lease", "NETREADY_ALERT_LEASE"),
        alert_poll: sourced(&args.alert_poll, "alert_poll", "--alert-poll", "NETREADY_ALERT_POLL"),
        alert_group_window: sourced(
            &args.alert_group_window,
            "alert_group_window",
            "--alert-group-window",
            "NETREADY_ALERT_GROUP_WINDOW",
        ),
        alert_destinations: args.alert_destinations.destinations(),
    }
}

fn runner(cmd: &RunnerCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime(false)?;
    rt.block_on(async {
        match cmd {
            RunnerCommand::Add { db, name } => {
                let store = open(&db.database).await?;
                let (id, token) = netready_plane::add_runner(&store, name).await.map_err(|e| match e {
                    netready_plane::StoreError::InvalidInput(message) => anyhow::Error::new(ConfigError(message)),
                    other => other.into(),
                })?;
                println!("runner id:    {id}");
                println!("runner token: {token}");
                eprintln!(
                    "The token is shown once and stored only as a hash: give it to the agent as \
                     NETREADY_RUNNER_TOKEN (e.g. from Secrets Manager)."
                );
                store.close().await;
            }
            RunnerCommand::List { db } => {
                let store = open(&db.database).await?;
                let rows = store.runners().await?;
                println!("{:<16}  {:<9}  {:<34}  NAME", "ID", "TOKEN", "LAST CHECK");
                for r in rows {
                    let token = if r.runner.revoked_at.is_some() { "revoked" } else { "active" };
                    let last = r
                        .state
                        .as_ref()
                        .map_or("never".to_owned(), |s| format!("{} {}", s.checked_at, s.status.as_str()));
                    println!("{:<16}  {:<9}  {:<34}  {}", r.runner.id, token, last, r.runner.name);
                }
                store.close().await;
            }
            RunnerCommand::Revoke { db, id } => {
                let store = open(&db.database).await?;
                if !store.revoke_runner(id).await? {
                    bail!(ConfigError(format!("no runner '{id}': see `netready plane runner list`")));
                }
                println!("revoked {id}");
                store.close().await;
            }
            RunnerCommand::Rename { db, id, name } => {
                let store = open(&db.database).await?;
                let name = netready_plane::names::RunnerName::parse(name).map_err(|e| ConfigError(e.to_string()))?;
                if !store.rename_runner(id, name.as_str()).await? {
                    bail!(ConfigError(format!("no runner '{id}': see `netready plane runner list`")));
                }
                println!("renamed {id} to {name}");
                store.close().await;
            }
            RunnerCommand::RotateToken { db, id } => {
                let store = open(&db.database).await?;
                let token = netready_plane::auth::new_token();
                if !store.rotate_token(id, &netready_plane::auth::token_hash(&token)).await? {
                    bail!(ConfigError(format!("no runner '{id}': see `netready plane runner list`")));
                }
                println!("runner id:    {id}");
                println!("runner token: {token}");
                eprintln!("The old token stops working now; the new one is shown once.");
                store.close().await;
            }
            RunnerCommand::Delete { db, id } => {
                let store = open(&db.database).await?;
                if !store.delete_runner(id).await? {
                    bail!(ConfigError(format!("no runner '{id}': see `netready plane runner list`")));
                }
                println!("deleted {id} with its reports");
                store.close().await;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `plane serve --check-config` prints: the settings as they will be used, no secret.
fn print_settings(config: &ServeConfig) {
    println!("netready plane serve: settings are valid");
    println!("database:        {}", netready_plane::db::redact(&config.database));
    println!("listen:          {}", config.listen);
    println!("admin token:     set (NETREADY_ADMIN_TOKEN; not shown)");
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    println!("stale after:     {}", d(config.stale_after));
    println!("never reported:  after {} without a first report", d(config.never_reported_after));
    println!("retention:       {}", d(config.retention));
    let proxies: Vec<String> = config.trusted_proxies.nets().iter().map(ToString::to_string).collect();
    match proxies.is_empty() {
        true => println!("trusted proxies: none (the login throttle counts per TCP peer)"),
        false => println!("trusted proxies: {} (X-Forwarded-For names the client)", proxies.join(", ")),
    }
    println!(
        "ingest:          burst {}, then one report per {} per runner",
        config.ingest_burst,
        d(config.ingest_interval)
    );
    let a = &config.alerts;
    println!(
        "alerts:          after {} consecutive checks ({} to recover) and {}; retries up to every {}, given up after {}, lease {}, poll {}",
        a.policy.after_checks,
        a.policy.checks_for(netready_plane::readiness::Readiness::Ready),
        d(std::time::Duration::from_millis(a.policy.min_duration_ms.max(0) as u64)),
        d(a.retry_max),
        d(a.give_up_after),
        d(a.lease),
        d(a.poll)
    );
    match a.group_window.is_zero() {
        true => println!("alerts grouped:  no (--alert-group-window)"),
        false => println!("alerts grouped:  what a channel has due of one kind, once {} old", d(a.group_window)),
    }
    println!(
        "alerts may reach: public addresses{}{} (never the metadata service or link-local)",
        if a.destinations.allow_private { ", private ones" } else { "" },
        if a.destinations.allow_loopback { ", this machine (loopback: for tests)" } else { "" }
    );
}

fn alert(cmd: &AlertCommand) -> anyhow::Result<ExitCode> {
    use netready_plane::alerts::channels::{self, ChannelError, ChannelView, NewChannel, is_channel_id};
    if matches!(cmd, AlertCommand::Silence { .. } | AlertCommand::Silences { .. } | AlertCommand::Unsilence { .. }) {
        return silence(cmd);
    }
    let rt = runtime(false)?;
    rt.block_on(async {
        match cmd {
            AlertCommand::Add { db, name, kind, url, secret_file, runners, kinds, destinations } => {
                let secret = match secret_file {
                    None => None,
                    Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                        ConfigError(format!("cannot read --secret-file / NETREADY_ALERT_SECRET_FILE '{path}': {e}"))
                    })?),
                };
                let store = open(&db.database).await?;
                let new = NewChannel {
                    name: name.clone(),
                    kind: kind.clone(),
                    url: url.clone(),
                    secret,
                    runners: runners.clone(),
                    kinds: kinds.clone(),
                };
                let channel = channels::add(&store, new, destinations.destinations()).await.map_err(|e| match e {
                    ChannelError::Invalid(message) => anyhow::Error::new(ConfigError(message)),
                    ChannelError::Store(e) => e.into(),
                })?;
                println!("channel id:     {}", channel.id);
                println!("told of:        {}", channel.route.describe());
                // A secret read from a file stays there: printing it would put it in terminal
                // history and CI logs. Only a generated one is shown, once.
                if secret_file.is_some() {
                    println!("channel secret: (from --secret-file; not shown)");
                } else if !channel.secret.is_empty() {
                    println!("channel secret: {}", channel.secret);
                    eprintln!(
                        "The secret is shown once: the receiver checks X-Netready-Signature (HMAC-SHA256 of X-Netready-Timestamp, '.', and the body) with it."
                    );
                }
                store.close().await;
            }
            AlertCommand::List { db } => {
                let store = open(&db.database).await?;
                let channels = store.alert_channels().await?;
                // Columns as wide as their longest entry.
                let width = |f: &dyn Fn(&netready_plane::db::alerts::Channel) -> usize, header: &str| {
                    channels.iter().map(f).chain([header.len()]).max().unwrap_or(0)
                };
                let name_w = width(&|c| c.name.chars().count(), "NAME");
                let told_w = width(&|c| c.route.describe().chars().count(), "TOLD OF");
                println!("{:<15}  {:<7}  {:<name_w$}  {:<told_w$}  URL", "ID", "KIND", "NAME", "TOLD OF");
                for c in &channels {
                    let v = ChannelView::from(c);
                    let told = c.route.describe();
                    println!("{:<15}  {:<7}  {:<name_w$}  {told:<told_w$}  {}", v.id, v.kind.as_str(), v.name, v.url);
                }
                store.close().await;
            }
            AlertCommand::Test { db, id, destinations } => {
                if !is_channel_id(id) {
                    bail!(ConfigError(format!(
                        "'{id}' is not a channel id: expected ch- and 12 hex digits, see `netready plane alert list`"
                    )));
                }
                let store = open(&db.database).await?;
                let channel = store.alert_channel(id).await?;
                store.close().await;
                let Some(channel) = channel else {
                    bail!(ConfigError(format!("no channel '{id}': see `netready plane alert list`")));
                };
                let sender = netready_plane::alerts::deliver::Sender::new(destinations.destinations())
                    .context("cannot make an HTTP client")?;
                let sent = netready_plane::alerts::deliver::send_test(&sender, &channel).await;
                match (sent.status, &sent.error) {
                    (Some(status), _) => {
                        println!("delivered {} to {} ({}): the receiver answered {status}", sent.id, channel.name, channel.id);
                    }
                    (None, error) => {
                        eprintln!(
                            "not delivered: {} to {} ({}): {}",
                            sent.id,
                            channel.name,
                            channel.id,
                            error.as_deref().unwrap_or("unknown error")
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            AlertCommand::Remove { db, id } => {
                if !is_channel_id(id) {
                    bail!(ConfigError(format!(
                        "'{id}' is not a channel id: expected ch- and 12 hex digits, see `netready plane alert list`"
                    )));
                }
                let store = open(&db.database).await?;
                if !store.remove_alert_channel(id).await? {
                    bail!(ConfigError(format!("no channel '{id}': see `netready plane alert list`")));
                }
                println!("removed {id} with its undelivered notifications");
                store.close().await;
            }
            AlertCommand::Silence { .. } | AlertCommand::Silences { .. } | AlertCommand::Unsilence { .. } => {
                unreachable!("handled by silence()")
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `alert silence`, `alert silences`, `alert unsilence`.
fn silence(cmd: &AlertCommand) -> anyhow::Result<ExitCode> {
    use netready_plane::alerts::silences::{Silence, SilenceView, is_silence_id};
    let now = netready_plane::db::now_ms();
    runtime(false)?.block_on(async {
        match cmd {
            AlertCommand::Silence { db, runners, duration, reason } => {
                let silence = Silence::new(runners, duration, reason, now).map_err(ConfigError)?;
                let store = open(&db.database).await?;
                store.add_silence(&silence).await?;
                store.close().await;
                let view = SilenceView::from(&silence);
                println!("silence id: {}", view.id);
                println!("silences:   {}", view.runners);
                println!("until:      {}", view.ends_at);
            }
            AlertCommand::Silences { db } => {
                let store = open(&db.database).await?;
                let silences = store.active_silences(now).await?;
                store.close().await;
                let width = silences.iter().map(|s| s.runners.chars().count()).chain([7]).max().unwrap_or(7);
                println!("{:<16}  {:<24}  {:<width$}  REASON", "ID", "UNTIL", "RUNNERS");
                for s in silences.iter().map(SilenceView::from) {
                    println!("{:<16}  {:<24}  {:<width$}  {}", s.id, s.ends_at, s.runners, s.reason);
                }
            }
            AlertCommand::Unsilence { db, id } => {
                if !is_silence_id(id) {
                    bail!(ConfigError(format!(
                        "'{id}' is not a silence id: expected sil- and 12 hex digits, see `netready plane alert silences`"
                    )));
                }
                let store = open(&db.database).await?;
                let ended = store.end_silence(id, now).await?;
                store.close().await;
                if !ended {
                    bail!(ConfigError(format!("no active silence '{id}': see `netready plane alert silences`")));
                }
                println!("ended {id}: changes of its runners are announced again");
            }
            _ => unreachable!("only the silence commands come here"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn open(database: &str) -> anyhow::Result<Store> {
    Store::open(database).await.context("cannot open the plane's database")
}
