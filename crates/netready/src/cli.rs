//! The command line: flags, their `NETREADY_*` variables, and the glue from parsed arguments to
//! the library's raw settings (which remember whether a value came from a flag or a variable, so
//! that an error names the one the user actually set).

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};
use netready_check::{RawSettings, Sourced};

#[derive(Debug, Parser)]
#[command(
    name = "netready",
    version,
    about = "Network readiness for AWS Fargate tasks: can this task reach Secrets Manager, CloudWatch Logs, ECR and S3 directly, and by which path?",
    after_help = "Exit codes: 0 ready, 1 degraded, 2 usage or configuration error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check once: resolve each endpoint, dial every address directly, classify the path.
    Check(CheckArgs),
    /// Check at start-up and every interval, report to the plane, serve health and metrics.
    Agent(AgentArgs),
    /// The management plane: stores reports, serves the API and the dashboard.
    #[command(subcommand)]
    Plane(PlaneCommand),
    /// The VPC endpoints that give a task private access to each required host (and CloudFormation).
    Endpoints(EndpointsArgs),
    /// A container health check: GET a status URL over loopback; exit 0 on 2xx, else 1.
    Healthcheck(HealthcheckArgs),
    /// Why, from the AWS configuration alone: a verdict per service (and subnet) for a task, a
    /// stopped task, a service or a task not deployed yet, every hop and the findings.
    #[command(after_help = "Exit codes: 0 every service reachable, 1 at least one blocked, 2 usage or configuration \
error, 3 nothing blocked but something unknown (not evaluated, or beyond what the configuration shows).")]
    Diagnose(DiagnoseArgs),
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// AWS region, e.g. eu-west-3 [default: AWS_REGION, AWS_DEFAULT_REGION, then task metadata]
    #[arg(long, env = "NETREADY_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// 12-digit registry (account) id whose ECR Docker host is resolved [default: the task's account]
    #[arg(long, env = "NETREADY_ECR_REGISTRY_ID", value_name = "ID")]
    pub ecr_registry_id: Option<String>,

    /// The task to diagnose, running or stopped (ecs:DescribeTasks) [default: task metadata's TaskARN]
    #[arg(long, env = "NETREADY_TASK_ARN", value_name = "ARN")]
    pub task_arn: Option<String>,

    /// The task's network interface, instead of --task-arn
    #[arg(long, env = "NETREADY_ENI", value_name = "ENI_ID")]
    pub eni: Option<String>,

    /// Before deploying: the subnets a task would run in (one VPC), e.g. subnet-0a1b…,subnet-0c2d…
    #[arg(long, value_name = "ID[,ID…]", value_delimiter = ',')]
    pub subnet: Vec<String>,

    /// Before deploying: the task's security groups; for a stopped task, instead of its service's
    #[arg(long, value_name = "ID[,ID…]", value_delimiter = ',')]
    pub security_group: Vec<String>,

    /// Before deploying: whether the task gets a public IP (AssignPublicIp) [default: false]
    #[arg(long, value_name = "true|false")]
    pub assign_public_ip: Option<String>,

    /// With --service: the ECS cluster
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: Option<String>,

    /// An ECS service: its awsvpcConfiguration, a verdict per subnet (with --cluster)
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,

    /// Read the network from the AWS APIs: off, auto (when credentials are found) or required
    #[arg(long, env = "NETREADY_AWS_API", value_name = "off|auto|required", default_value = "auto")]
    pub aws_api: String,

    /// Use these addresses for a service instead of the model's answer, e.g. s3=52.95.155.10
    /// (repeatable; the variable is comma-separated)
    #[arg(long = "address", env = "NETREADY_ADDRESSES", value_name = "SERVICE=IP", value_delimiter = ',')]
    pub addresses: Vec<String>,

    /// Where the services' addresses come from: model (what the task's resolver would answer, from
    /// the configuration) or local (resolve the names here, as netready did before)
    #[arg(long, env = "NETREADY_RESOLVE", value_name = "model|local", default_value = "model")]
    pub resolve: String,

    /// Budget for the whole diagnosis, DNS and AWS API calls together, e.g. 5s [default: 10s]
    #[arg(long, env = "NETREADY_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// How to print it.
    #[arg(long, short = 'o', env = "NETREADY_OUTPUT", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Validate every setting as the real run would, print what was resolved, and exit 0 (or 2)
/// without probing, reporting or serving.
#[derive(Debug, Args)]
pub struct CheckConfigArg {
    /// Validate every setting (flags and NETREADY_* variables) as a real run would, print what was
    /// resolved and exit (0 valid, 2 not) without probing, reporting or serving
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Args)]
pub struct EndpointsArgs {
    /// AWS region, e.g. eu-west-3 or cn-north-1 [default: AWS_REGION, AWS_DEFAULT_REGION]
    #[arg(long, env = "NETREADY_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// 12-digit registry (account) id, to show the ECR Docker host a pull really uses
    #[arg(long, env = "NETREADY_ECR_REGISTRY_ID", value_name = "ID")]
    pub ecr_registry_id: Option<String>,

    /// How to print them: a table, JSON, or a CloudFormation template (JSON) that creates them
    #[arg(long, value_enum, default_value_t = EndpointsFormat::Table)]
    pub format: EndpointsFormat,

    /// Only what the task's VPC lacks: reads its endpoints from the AWS APIs (in a task, or with
    /// --task-arn/--eni and credentials); a service with an interface or gateway endpoint is left out
    #[arg(long)]
    pub only_missing: bool,

    /// With --only-missing: the task whose VPC to read [default: task metadata's TaskARN]
    #[arg(long, env = "NETREADY_TASK_ARN", value_name = "ARN")]
    pub task_arn: Option<String>,

    /// With --only-missing: a network interface of the VPC to read, instead of --task-arn
    #[arg(long, env = "NETREADY_ENI", value_name = "ENI_ID")]
    pub eni: Option<String>,

    /// With --only-missing: how long reading the VPC may take, e.g. 5s [default: 10s]
    #[arg(long, env = "NETREADY_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EndpointsFormat {
    /// One row per required host
    Table,
    /// The same as JSON
    Json,
    /// A CloudFormation template (JSON) creating the endpoints and their security group
    Cloudformation,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to GET (plain HTTP) [default: /healthz on NETREADY_LISTEN's port at 127.0.0.1, else http://127.0.0.1:9464/healthz]
    #[arg(long, env = "NETREADY_HEALTHCHECK_URL", value_name = "URL")]
    pub url: Option<String>,

    /// How long to wait for the answer [default: 3s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Base URL of the management plane, e.g. https://plane.example.com
    #[arg(long, env = "NETREADY_PLANE_URL", value_name = "URL")]
    pub plane_url: Option<String>,

    /// Send reports over plain http:// to a plane that is not on this machine (the runner token then
    /// crosses the network in clear text; for a network you trust only)
    #[arg(long, env = "NETREADY_ALLOW_INSECURE_PLANE", value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_insecure_plane: Option<String>,

    /// This runner's id, from `netready plane runner add`
    #[arg(long, env = "NETREADY_RUNNER_ID", value_name = "ID")]
    pub runner_id: Option<String>,

    /// A file holding the runner token [default: the NETREADY_RUNNER_TOKEN variable]
    #[arg(long, env = "NETREADY_RUNNER_TOKEN_FILE", value_name = "PATH")]
    pub runner_token_file: Option<String>,

    /// Time between checks [default: 5m]
    #[arg(long, env = "NETREADY_INTERVAL", value_name = "DURATION")]
    pub interval: Option<String>,

    /// Address of the status server (/healthz, /readyz, /status, /metrics) [default: 0.0.0.0:9464]
    #[arg(long, env = "NETREADY_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    #[command(flatten)]
    pub check_config: CheckConfigArg,
}

#[derive(Debug, Subcommand)]
pub enum PlaneCommand {
    /// Serve the API and the dashboard. Needs NETREADY_ADMIN_TOKEN.
    Serve(Box<PlaneServeArgs>),
    /// Manage the runners allowed to report.
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// Manage where readiness changes are announced (webhooks, Slack).
    #[command(subcommand)]
    Alert(AlertCommand),
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Add a channel: prints its id and, for a webhook, the signing secret (shown once)
    Add {
        #[command(flatten)]
        db: DatabaseArgs,
        /// A name people recognise, e.g. ops-pager
        name: String,
        /// webhook (signed JSON) or slack (an incoming-webhook URL)
        #[arg(long, value_name = "webhook|slack", default_value = "webhook")]
        kind: String,
        /// Where to POST: https://…, or http:// to this machine only (with --alert-allow-loopback)
        #[arg(long, value_name = "URL")]
        url: String,
        /// A file holding the webhook's signing secret (16 to 512 characters) [default: generated]
        #[arg(long, env = "NETREADY_ALERT_SECRET_FILE", value_name = "PATH")]
        secret_file: Option<String>,
        /// Only runners whose name matches this pattern ('*' for any run of characters), e.g. 'eu-west-3/*' [default: all]
        #[arg(long, value_name = "PATTERN")]
        runners: Option<String>,
        /// Only these kinds of change, comma-separated: degraded, stale, never_reported, recovered [default: all]
        #[arg(long, value_name = "KINDS", value_delimiter = ',')]
        kinds: Option<Vec<String>>,
        #[command(flatten)]
        destinations: AlertDestinationArgs,
    },
    /// List the channels (never their secrets)
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Send a signed test notification to a channel now; exit 1 if it was not delivered
    Test {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        destinations: AlertDestinationArgs,
        /// The channel id
        id: String,
    },
    /// Remove a channel with its undelivered notifications
    Remove {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The channel id
        id: String,
    },
    /// Silence some runners' changes for a while (a maintenance window); it ends by itself
    Silence {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The runners: a name pattern ('*' for any run of characters), e.g. 'eu-west-3/*'
        #[arg(long, value_name = "PATTERN")]
        runners: String,
        /// How long, from now: 1m to 30d, e.g. 2h
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why, for whoever wonders where the alerts went
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// List the silences active now
    Silences {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// End a silence now
    Unsilence {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The silence id
        id: String,
    },
}

/// Where alert channels may point, beside public addresses. The metadata service and link-local
/// addresses are never allowed.
#[derive(Debug, Args)]
pub struct AlertDestinationArgs {
    /// Let alert channels reach private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7):
    /// receivers inside the VPC
    #[arg(long, env = "NETREADY_ALERT_ALLOW_PRIVATE")]
    pub alert_allow_private: bool,

    /// Let alert channels reach this machine (127/8, ::1, localhost). For tests and local
    /// development only: the plane's own API listens there
    #[arg(long, env = "NETREADY_ALERT_ALLOW_LOOPBACK")]
    pub alert_allow_loopback: bool,
}

impl AlertDestinationArgs {
    pub fn destinations(&self) -> netready_plane::alerts::address::Destinations {
        netready_plane::alerts::address::Destinations {
            allow_private: self.alert_allow_private,
            allow_loopback: self.alert_allow_loopback,
        }
    }
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// A SQLite file (created when missing) or a postgres:// URL
    #[arg(long, env = "NETREADY_DATABASE", value_name = "PATH|URL", default_value = netready_plane::DEFAULT_DATABASE)]
    pub database: String,
}

#[derive(Debug, Args)]
pub struct PlaneServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address to listen on
    #[arg(long, env = "NETREADY_LISTEN", value_name = "ADDR", default_value = netready_plane::DEFAULT_LISTEN)]
    pub listen: String,

    /// A runner with no report for this long is stale (two check intervals) [default: 10m]
    #[arg(long, env = "NETREADY_STALE_AFTER", value_name = "DURATION")]
    pub stale_after: Option<String>,

    /// A registered runner with no report ever for this long is never_reported (its task most
    /// likely never started) and announced [default: 15m]
    #[arg(long, env = "NETREADY_NEVER_REPORTED_AFTER", value_name = "DURATION")]
    pub never_reported_after: Option<String>,

    /// Load balancers or proxies (CIDR, repeatable or comma-separated; for the ALB the VPC's CIDR)
    /// whose X-Forwarded-For names the client; the login throttle counts per client [default: none]
    #[arg(long = "trusted-proxy", env = "NETREADY_TRUSTED_PROXY", value_name = "CIDR", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,

    /// How long reports and status changes are kept; each runner's newest is always kept [default: 7d]
    #[arg(long, env = "NETREADY_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key); reloaded on SIGHUP and when the
    /// files change [default: plain HTTP, for a TLS-terminating load balancer in front]
    #[arg(long, env = "NETREADY_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<String>,

    /// The PEM private key of --tls-cert
    #[arg(long, env = "NETREADY_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<String>,

    /// Reports one runner may send at once before the rate applies [default: 20]
    #[arg(long, env = "NETREADY_INGEST_BURST", value_name = "N")]
    pub ingest_burst: Option<String>,

    /// After the burst, one report per this long per runner; faster is answered 429 [default: 1s]
    #[arg(long, env = "NETREADY_INGEST_INTERVAL", value_name = "DURATION")]
    pub ingest_interval: Option<String>,

    /// A new readiness is announced after this many consecutive checks agree [default: 2]
    #[arg(long, env = "NETREADY_ALERT_AFTER_CHECKS", value_name = "N")]
    pub alert_after_checks: Option<String>,

    /// A recovery (back to ready) is announced after this many consecutive ready checks, e.g. 3 to
    /// page after 2 bad checks and clear after 3 good ones [default: --alert-after-checks]
    #[arg(long, env = "NETREADY_ALERT_RECOVER_AFTER_CHECKS", value_name = "N")]
    pub alert_recover_after_checks: Option<String>,

    /// ... and once it has lasted this long, from its first check [default: 0s]
    #[arg(long, env = "NETREADY_ALERT_MIN_DURATION", value_name = "DURATION")]
    pub alert_min_duration: Option<String>,

    /// The longest wait between two delivery attempts (1 s doubling up to it) [default: 5m]
    #[arg(long, env = "NETREADY_ALERT_RETRY_MAX", value_name = "DURATION")]
    pub alert_retry_max: Option<String>,

    /// How long an undelivered notification is retried before it is given up [default: 24h]
    #[arg(long, env = "NETREADY_ALERT_GIVE_UP_AFTER", value_name = "DURATION")]
    pub alert_give_up_after: Option<String>,

    /// How long a notification being sent is held before it is tried again (after a crash) [default: 1m]
    #[arg(long, env = "NETREADY_ALERT_LEASE", value_name = "DURATION")]
    pub alert_lease: Option<String>,

    /// How often to look for due notifications and stale or never-reported runners [default: 5s]
    #[arg(long, env = "NETREADY_ALERT_POLL", value_name = "DURATION")]
    pub alert_poll: Option<String>,

    /// Group notifications: wait until one is this old, then send what a channel has due of one
    /// kind as one notification naming the cause and the runners, e.g. 30s [default: 0s, off]
    #[arg(long, env = "NETREADY_ALERT_GROUP_WINDOW", value_name = "DURATION")]
    pub alert_group_window: Option<String>,

    #[command(flatten)]
    pub alert_destinations: AlertDestinationArgs,

    #[command(flatten)]
    pub check_config: CheckConfigArg,
}

#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Register a runner: prints its id and a new token (shown once, stored only as a hash)
    Add {
        #[command(flatten)]
        db: DatabaseArgs,
        /// A name people recognise, e.g. the cluster and service
        name: String,
    },
    /// List the runners
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a runner's token: its reports are refused from now on
    Revoke {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The runner id
        id: String,
    },
    /// Rename a runner
    Rename {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The runner id
        id: String,
        /// The new name
        name: String,
    },
    /// Give a runner a new token (shown once); the old one stops working
    RotateToken {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The runner id
        id: String,
    },
    /// Delete a runner with its reports, state and status changes
    Delete {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The runner id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,

    /// How to print the report.
    #[arg(long, short = 'o', env = "NETREADY_OUTPUT", value_enum, default_value_t = Output::Table)]
    pub output: Output,

    #[command(flatten)]
    pub check_config: CheckConfigArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One row per endpoint, then hints: for people.
    Table,
    /// The report as JSON (schema/report-v4.schema.json): for machines.
    Json,
}

/// The settings of a check, shared by `check` and `agent`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// AWS region to check, e.g. eu-west-3 [default: AWS_REGION, AWS_DEFAULT_REGION, then task metadata]
    #[arg(long, env = "NETREADY_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// 12-digit registry (account) id whose ECR Docker host is probed [default: the task's account]
    #[arg(long, env = "NETREADY_ECR_REGISTRY_ID", value_name = "ID")]
    pub ecr_registry_id: Option<String>,

    /// Whether the task ENI has a public IP, as the stack's AssignPublicIp [default: unknown]
    #[arg(long, env = "NETREADY_ASSIGN_PUBLIC_IP", value_name = "true|false")]
    pub public_ip: Option<String>,

    /// A VPC CIDR: addresses in it count as private (repeatable; the variable is comma-separated)
    #[arg(long = "vpc-cidr", env = "NETREADY_VPC_CIDRS", value_name = "CIDR", value_delimiter = ',')]
    pub vpc_cidrs: Vec<String>,

    /// The check's deadline, counted from its start, e.g. 500ms or 2s [default: 5s]
    #[arg(long, env = "NETREADY_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// TCP port to dial [default: 443]
    #[arg(long, env = "NETREADY_PORT", value_name = "PORT")]
    pub port: Option<String>,

    /// Shake hands with TLS after each TCP connection (SNI = host, certificate verified); false
    /// gives the plain TCP check [default: true]
    #[arg(long, env = "NETREADY_TLS", value_name = "true|false")]
    pub tls: Option<String>,

    /// A PEM file of CA certificates to trust beside the system's (a private CA, an intended TLS
    /// inspection CA)
    #[arg(long, env = "NETREADY_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<String>,

    /// Whether the task has IPv6, so AAAA addresses are dialled too [default: task metadata, else false]
    #[arg(long, env = "NETREADY_IPV6", value_name = "true|false")]
    pub ipv6: Option<String>,

    /// Read the task's network from the AWS APIs, beside the probes and by their deadline: off, auto
    /// (when the environment has AWS credentials and task metadata names the task) or required (not
    /// being able to is an error finding, and exit code 1) [default: auto]
    #[arg(long, env = "NETREADY_AWS_API", value_name = "off|auto|required")]
    pub aws_api: Option<String>,
}

impl ProbeArgs {
    /// The raw settings, each tagged with the flag or variable it came from.
    pub fn raw(&self, matches: &ArgMatches) -> RawSettings {
        let tag = |id: &str, flag: &'static str, var: &'static str, value: &str| sourced(matches, id, flag, var, value);
        RawSettings {
            region: self.region.as_deref().map(|v| tag("region", "--region", "NETREADY_REGION", v)),
            ecr_registry_id: self
                .ecr_registry_id
                .as_deref()
                .map(|v| tag("ecr_registry_id", "--ecr-registry-id", "NETREADY_ECR_REGISTRY_ID", v)),
            public_ip: self
                .public_ip
                .as_deref()
                .map(|v| tag("public_ip", "--public-ip", "NETREADY_ASSIGN_PUBLIC_IP", v)),
            vpc_cidrs: self.vpc_cidrs.iter().map(|v| tag("vpc_cidrs", "--vpc-cidr", "NETREADY_VPC_CIDRS", v)).collect(),
            timeout: self.timeout.as_deref().map(|v| tag("timeout", "--timeout", "NETREADY_TIMEOUT", v)),
            port: self.port.as_deref().map(|v| tag("port", "--port", "NETREADY_PORT", v)),
            tls: self.tls.as_deref().map(|v| tag("tls", "--tls", "NETREADY_TLS", v)),
            ca_file: self.ca_file.as_deref().map(|v| tag("ca_file", "--ca-file", "NETREADY_CA_FILE", v)),
            ipv6: self.ipv6.as_deref().map(|v| tag("ipv6", "--ipv6", "NETREADY_IPV6", v)),
            aws_api: self.aws_api.as_deref().map(|v| tag("aws_api", "--aws-api", "NETREADY_AWS_API", v)),
        }
    }
}

/// Where a value came from: its flag, or its `NETREADY_*` variable when the flag was absent. Every
/// error about a flag or variable names the one the user set through this (or [`sourced`]).
pub fn origin(matches: &ArgMatches, id: &str, flag: &'static str, var: &'static str) -> &'static str {
    if matches.value_source(id) == Some(ValueSource::EnvVariable) { var } else { flag }
}

/// A value tagged with the flag or variable it came from; [`Sourced::parse`] words its error.
pub fn sourced(matches: &ArgMatches, id: &str, flag: &'static str, var: &'static str, value: &str) -> Sourced {
    Sourced::new(value, origin(matches, id, flag, var))
}
