//! The diagnosis as `netready diagnose --output json` prints it: the contract of
//! `schema/diagnosis-v1.schema.json`. One entry per subnet (a task has one; a service or a planned
//! deployment one per subnet), each with a verdict per service, the addresses with their source,
//! the hops and the findings.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::facts::NetworkFacts;
use crate::findings::Finding;
use crate::stopped::StoppedTask;
use crate::verdict::{ServiceResult, Verdict, overall};

/// The version of the diagnosis's JSON contract.
pub const SCHEMA_VERSION: u32 = 1;

/// What was diagnosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A running task (`--task-arn`, task metadata).
    Task,
    /// A network interface (`--eni`).
    Eni,
    /// A task that stopped: its interface is gone, the attachment and its service say where it was.
    StoppedTask,
    /// An ECS service's network configuration (`--cluster` and `--service`).
    Service,
    /// A task not deployed yet (`--subnet`, `--security-group`, `--assign-public-ip`).
    Planned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsApiNote {
    /// `off`, `auto` or `required`.
    pub mode: String,
    /// `skipped` or `unavailable` when the configuration was not read.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIp {
    pub address: Option<IpAddr>,
    /// `ec2` (the interface's association) or `planned` (a task not running: `assign_public_ip` decides).
    pub source: String,
    /// For `planned`: `AssignPublicIp` (the service's, `--assign-public-ip`, else false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<bool>,
}

/// The task's side of one subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The interface, when it exists.
    pub eni: Option<String>,
    pub private_ipv4: Option<IpAddr>,
    /// Where `private_ipv4` comes from: `ec2` (the interface), `attachment` (a stopped task's), or
    /// `subnet` (a task not deployed yet: a representative address of the subnet, its fifth).
    pub private_ipv4_source: String,
    pub ipv6: Vec<IpAddr>,
    pub public_ip: PublicIp,
    pub security_groups: Vec<String>,
}

/// One subnet: the task's network there and each service's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetReport {
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    pub verdict: Verdict,
    pub task: Option<Task>,
    pub route_table_id: Option<String>,
    pub network_acl_id: Option<String>,
    pub vpc_cidrs: Vec<IpNet>,
    pub vpc_endpoints: Vec<String>,
    pub endpoints: Vec<ServiceResult>,
    pub findings: Vec<Finding>,
}

impl SubnetReport {
    pub fn new(facts: &NetworkFacts, endpoints: Vec<ServiceResult>, findings: Vec<Finding>) -> SubnetReport {
        let eni = facts.eni.as_ref();
        let task = eni.map(|e| Task {
            eni: (!e.planned && !e.id.is_empty()).then(|| e.id.clone()),
            private_ipv4: e.private_ipv4,
            private_ipv4_source: match (e.planned, e.stopped) {
                (false, _) => "ec2".into(),
                (true, true) => "attachment".into(),
                (true, false) => "subnet".into(),
            },
            ipv6: e.ipv6.clone(),
            public_ip: PublicIp {
                address: e.public_ip,
                source: if e.planned { "planned".into() } else { "ec2".into() },
                assign_public_ip: e.planned.then_some(e.planned_public_ip),
            },
            security_groups: e.security_group_ids.clone(),
        });
        SubnetReport {
            subnet_id: eni.map(|e| e.subnet_id.clone()),
            vpc_id: eni.map(|e| e.vpc_id.clone()),
            availability_zone: eni.map(|e| e.availability_zone.clone()).filter(|z| !z.is_empty()),
            verdict: overall(endpoints.iter().map(|e| e.verdict)),
            task,
            route_table_id: facts.route_table.as_ref().map(|t| t.id.clone()),
            network_acl_id: facts.network_acl.as_ref().map(|a| a.id.clone()),
            vpc_cidrs: facts.vpc_cidrs().to_vec(),
            vpc_endpoints: facts.vpc_endpoints.iter().map(|e| e.id.clone()).collect(),
            endpoints,
            findings,
        }
    }
}

/// The whole diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub region: String,
    pub status: Verdict,
    pub aws_api: AwsApiNote,
    pub subject: Subject,
    /// A stopped task's reasons, tied to the services they name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StoppedTask>,
    pub subnets: Vec<SubnetReport>,
    /// Findings about the diagnosis itself, not one subnet (skipped, unavailable, a stopped
    /// task's reason).
    pub findings: Vec<Finding>,
}

impl Report {
    /// The overall status: blocked beats unknown beats reachable; no subnet is unknown.
    pub fn status_of(subnets: &[SubnetReport]) -> Verdict {
        overall(subnets.iter().map(|s| s.verdict))
    }

    /// The command's exit code: 0 reachable, 1 blocked, 3 unknown.
    pub fn exit_code(&self) -> u8 {
        crate::verdict::exit_code(self.status)
    }
}
