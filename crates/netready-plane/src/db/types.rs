//! What the store reads and writes, as the rest of the plane sees it: runners, list and fleet
//! filters and their rows, a report prepared for storage.

use netready_check::Status;
use netready_check::classify::{AccessType, Reachability};
use netready_check::types::ServiceKey;

use crate::readiness::{Ages, DegradedEndpoint, LastReport, Phase, Readiness};

/// How many readiness values there are (the length of the counts by rank).
pub const RANKS: usize = Readiness::ALL.len();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A runner as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A runner with its newest report's summary, for lists.
#[derive(Debug, Clone)]
pub struct RunnerRow {
    pub runner: Runner,
    pub state: Option<LastReport>,
}

/// Which runners a list shows.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// Only this rank ([`Readiness::rank`]).
    pub rank: Option<i64>,
    /// Only names or ids containing this text, case-insensitively.
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
    pub now_ms: i64,
    pub ages: Ages,
}

/// One page of a runner list.
#[derive(Debug, Clone)]
pub struct RunnerPage {
    /// How many runners match the whole filter.
    pub total: i64,
    /// How many runners match the text filter, by rank ([`Readiness::ALL`]'s order).
    pub by_rank: [i64; RANKS],
    pub runners: Vec<RunnerRow>,
}

/// What the fleet view counts.
#[derive(Debug, Clone)]
pub struct FleetFilter {
    /// Only endpoints of runners whose newest report arrived since then.
    pub fresh_since_ms: i64,
    /// Runners that reported before this are stale (for the counts of runners).
    pub stale_before_ms: i64,
    pub region: Option<String>,
    pub service: Option<ServiceKey>,
    /// At most this many causes, and this many groups.
    pub limit: i64,
}

/// Runners reaching one service in one region through one access type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachCount {
    pub service: ServiceKey,
    pub region: String,
    pub access_type: AccessType,
    pub full: i64,
    pub partial: i64,
    pub none: i64,
}

/// What a cause's rows have in one column: how many distinct values, how many rows know it, and
/// the value when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub distinct: i64,
    pub known: i64,
    /// The smallest value (the only one when `distinct` is 1).
    pub one: Option<String>,
}

/// What degraded endpoints have in common: the service, where, how it is reached and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseKey {
    pub service: ServiceKey,
    pub region: String,
    pub reachability: Reachability,
    pub access_type: AccessType,
    pub phase: Option<Phase>,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CauseRow {
    pub key: CauseKey,
    pub runners: i64,
    pub subnet_cidr: Values,
    pub availability_zone: Values,
    pub vpc_id: Values,
    pub account_id: Values,
    pub hint: Option<String>,
    pub finding: Option<String>,
}

/// A cause in one place (subnet, zone, VPC, account).
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub key: CauseKey,
    pub runners: i64,
    pub subnet_cidr: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FleetRunners {
    pub total: i64,
    pub never_reported: i64,
    pub stale: i64,
    pub degraded: i64,
}

#[derive(Debug, Clone)]
pub struct FleetData {
    pub runners: FleetRunners,
    pub reach: Vec<ReachCount>,
    pub causes: Vec<CauseRow>,
    pub groups: Vec<GroupRow>,
}

/// A runner's checks over a day and a week: (ready, all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uptime {
    pub runner_id: String,
    pub day: (i64, i64),
    pub week: (i64, i64),
}

/// A report ready to store.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub runner_id: String,
    pub checked_at: String,
    pub checked_at_ms: i64,
    pub status: Status,
    pub degraded: Vec<DegradedEndpoint>,
    pub body: String,
    /// Identifies the report without its timings: equal fingerprints, same network.
    pub fingerprint: String,
    /// Per endpoint, in order: reachability, access type and duration, e.g. `fv12,nv2000,…`.
    pub summary: String,
    /// Where the task runs, for the fleet view.
    pub placement: Placement,
    /// Per endpoint (one per service), for the fleet view.
    pub endpoints: Vec<EndpointFacts>,
}

/// Where a report's task runs. `None` where the report does not say (see migration 6).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub region: String,
    pub subnet_cidr: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
}

/// How one endpoint of a report fared, as the fleet view groups it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointFacts {
    pub service: ServiceKey,
    pub reachability: Reachability,
    pub access_type: AccessType,
    /// The first phase that failed; `None` when fully reachable.
    pub phase: Option<Phase>,
    /// That phase's outcome (`nxdomain`, `not_dialled`, `timeout`, `reset`, …).
    pub outcome: Option<String>,
    /// The endpoint's first hint.
    pub hint: Option<String>,
    /// The id of the first diagnosis finding that names this endpoint (version 3), errors first.
    pub finding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    Duplicate,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub at_ms: i64,
    pub from_status: Option<Status>,
    pub to_status: Status,
}

#[derive(Debug, Clone)]
pub struct ReportLine {
    pub checked_at: String,
    pub received_at: i64,
    pub status: Status,
    pub degraded: Vec<DegradedEndpoint>,
    /// Per endpoint: reachability, access type, duration (see `api::readiness::summary`).
    pub summary: String,
}
