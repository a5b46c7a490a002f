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
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub probe: ProbeArgs,

    /// How to print the report.
    #[arg(long, short = 'o', env = "NETREADY_OUTPUT", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One row per endpoint, then hints: for people.
    Table,
    /// The report as JSON (schema/report-v1.schema.json): for machines.
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
    #[arg(
        long = "vpc-cidr",
        env = "NETREADY_VPC_CIDRS",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub vpc_cidrs: Vec<String>,

    /// Deadline per endpoint, DNS and connect together, e.g. 500ms or 2s [default: 5s]
    #[arg(long, env = "NETREADY_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// TCP port to dial [default: 443]
    #[arg(long, env = "NETREADY_PORT", value_name = "PORT")]
    pub port: Option<String>,
}

impl ProbeArgs {
    /// The raw settings, each tagged with the flag or variable it came from.
    pub fn raw(&self, matches: &ArgMatches) -> RawSettings {
        let tag = |id: &str, flag: &str, var: &str, value: &str| {
            let origin = if matches.value_source(id) == Some(ValueSource::EnvVariable) {
                var
            } else {
                flag
            };
            Sourced::new(value, origin)
        };
        RawSettings {
            region: self
                .region
                .as_deref()
                .map(|v| tag("region", "--region", "NETREADY_REGION", v)),
            ecr_registry_id: self.ecr_registry_id.as_deref().map(|v| {
                tag(
                    "ecr_registry_id",
                    "--ecr-registry-id",
                    "NETREADY_ECR_REGISTRY_ID",
                    v,
                )
            }),
            public_ip: self
                .public_ip
                .as_deref()
                .map(|v| tag("public_ip", "--public-ip", "NETREADY_ASSIGN_PUBLIC_IP", v)),
            vpc_cidrs: self
                .vpc_cidrs
                .iter()
                .map(|v| tag("vpc_cidrs", "--vpc-cidr", "NETREADY_VPC_CIDRS", v))
                .collect(),
            timeout: self
                .timeout
                .as_deref()
                .map(|v| tag("timeout", "--timeout", "NETREADY_TIMEOUT", v)),
            port: self
                .port
                .as_deref()
                .map(|v| tag("port", "--port", "NETREADY_PORT", v)),
        }
    }
}
