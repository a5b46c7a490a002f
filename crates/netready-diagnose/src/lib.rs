//! The rules of netready's diagnosis, without I/O: given a Fargate task's network as facts (read
//! from EC2 and ECS by `netready-aws`) and the addresses each endpoint resolved to, the route each
//! address takes, how traffic leaves the task (the access type, refined by the route's target) and
//! findings for the source document's troubleshooting list.
//!
//! [`facts`] is the model; [`route`] the longest-prefix match; [`filter`] security groups and
//! network ACLs as AWS evaluates them; [`path`] the path and access type of each address;
//! [`findings`] what is wrong and what to change; [`dns`] what the task's resolver would answer;
//! [`verdict`] and [`target`] every hop and a verdict per service; [`stopped`] a stopped task's
//! reasons; [`report`] and [`render`] the diagnosis's JSON contract and its table; [`ids`] the
//! ids the command takes, checked.

pub mod compare;
pub mod dns;
pub mod facts;
pub mod filter;
pub mod findings;
pub mod hops;
pub mod ids;
pub mod path;
pub mod render;
pub mod report;
pub mod route;
pub mod service;
pub mod stopped;
pub mod target;
pub mod verdict;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use facts::NetworkFacts;
pub use findings::{Finding, Severity};
pub use hops::Verdict;
pub use path::{AccessType, EndpointAddresses, EndpointPath, RouteRef, RouteState};
pub use service::ServiceKey;

/// `--aws-api`: whether to read the task's network from the AWS APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsApi {
    /// Never.
    Off,
    /// When credentials are found (and there is a task to read).
    #[default]
    Auto,
    /// Always: not being able to read the network is an error.
    Required,
}

impl AwsApi {
    pub fn as_str(self) -> &'static str {
        match self {
            AwsApi::Off => "off",
            AwsApi::Auto => "auto",
            AwsApi::Required => "required",
        }
    }
}

impl FromStr for AwsApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(AwsApi::Off),
            "auto" => Ok(AwsApi::Auto),
            "required" => Ok(AwsApi::Required),
            _ => Err(format!("'{s}' is not one of off, auto, required")),
        }
    }
}

/// The paths of every endpoint and the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub paths: Vec<EndpointPath>,
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// Whether any finding is an error (the command's exit code 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Diagnoses `facts` for `endpoints`.
pub fn diagnose(facts: &NetworkFacts, endpoints: &[EndpointAddresses]) -> Diagnosis {
    let paths = path::paths(facts, endpoints);
    let findings = findings::findings(facts, endpoints, &paths);
    Diagnosis { paths, findings }
}
