//! The readiness report: the JSON contract between the check, its users and the management plane.
//!
//! This build writes version 4 (`schema/report-v4.schema.json`, every field documented there); a
//! test checks that real reports validate against it. Versions 1 ([`v1`]), 2 and 3 are still
//! read, and read as the newest [`Report`]: a version 3 report is a version 4 report without what
//! the TLS phase learnt to tell apart (`tls.retry`, `tls.reason`, `tls.task_clock`, `tls.cause`,
//! `tls.alert`, `certificate.not_before` are absent); a version 2 report is a version 3 report
//! without the diagnosis (its `connections[].route`, `connections[].access_type` and `diagnosis`
//! are absent); a version 1 report is upgraded field by field. A change a strict reader would refuse — a new
//! enum value, a new required field — is a new `schema_version`.

mod model;
pub mod v1;

pub use model::*;
pub use netready_diagnose::Severity;

pub use v1::SCHEMA_V1;

/// The version of the report format this build writes.
pub const SCHEMA_VERSION: u32 = 4;

/// The schema of version 2, as shipped in the repository.
pub const SCHEMA_V2: &str = include_str!("../../../../schema/report-v2.schema.json");

/// The schema of version 3, as shipped in the repository.
pub const SCHEMA_V3: &str = include_str!("../../../../schema/report-v3.schema.json");

/// The schema of version 4, as shipped in the repository.
pub const SCHEMA_V4: &str = include_str!("../../../../schema/report-v4.schema.json");

/// The report versions this build can read, oldest first.
pub const READABLE_VERSIONS: [u32; 4] = [1, 2, 3, 4];

/// The shipped schema of a report version.
pub fn schema_of(version: u32) -> Option<&'static str> {
    match version {
        1 => Some(SCHEMA_V1),
        2 => Some(SCHEMA_V2),
        3 => Some(SCHEMA_V3),
        4 => Some(SCHEMA_V4),
        _ => None,
    }
}

/// A report as its version defines it: version 1 in its own shape, later versions as the newest
/// [`Report`] without the fields their version does not define.
// Made once per report read and consumed at once: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Versioned {
    V1(v1::ReportV1),
    Newer(Report),
}

impl Versioned {
    /// The report as JSON in its version's shape: what a reader that keeps reports stores.
    pub fn to_json(&self) -> String {
        match self {
            Versioned::V1(r) => serde_json::to_string(r),
            Versioned::Newer(r) => serde_json::to_string(r),
        }
        .expect("a report always serializes")
    }

    /// Read as the newest version (version 1 upgraded).
    pub fn into_report(self) -> Report {
        match self {
            Versioned::V1(r) => r.upgrade(),
            Versioned::Newer(r) => r,
        }
    }
}

/// Why a report body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the report has no schema_version; readable versions: {READABLE_VERSIONS:?}")]
    NoVersion,
    #[error("schema_version {0} is not readable by this version; readable versions: {READABLE_VERSIONS:?}")]
    UnknownVersion(String),
    #[error("the report does not match schema version {version}: {reason}")]
    Shape { version: u32, reason: String },
}

impl Report {
    /// The version a body declares, without reading the rest.
    pub fn version_of(value: &serde_json::Value) -> Result<u32, ReadError> {
        match value.get("schema_version") {
            None => Err(ReadError::NoVersion),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| READABLE_VERSIONS.contains(n))
                .ok_or_else(|| ReadError::UnknownVersion(v.to_string())),
        }
    }

    /// Reads a report of any readable version as the newest (its `schema_version` stays what it
    /// was): version 1 is upgraded, versions 2 and 3 are read without what only later versions
    /// define.
    /// Does not validate against the JSON Schema: callers that take input from outside do that
    /// first.
    pub fn from_value(value: serde_json::Value) -> Result<Report, ReadError> {
        Self::read(value).map(Versioned::into_report)
    }

    /// The one dispatch by version: a report of any readable version as that version defines it
    /// (fields it does not define are dropped), from which the newest view and the body to keep
    /// are both taken. Does not validate against the JSON Schema.
    pub fn read(value: serde_json::Value) -> Result<Versioned, ReadError> {
        let version = Self::version_of(&value)?;
        let shape = |e: serde_json::Error| ReadError::Shape { version, reason: e.to_string() };
        match version {
            1 => serde_json::from_value::<v1::ReportV1>(value).map(Versioned::V1).map_err(shape),
            2 => serde_json::from_value::<Report>(value).map(|r| Versioned::Newer(r.without_v3())).map_err(shape),
            3 => serde_json::from_value::<Report>(value).map(|r| Versioned::Newer(r.without_v4())).map_err(shape),
            _ => serde_json::from_value::<Report>(value).map(Versioned::Newer).map_err(shape),
        }
    }

    /// The report without the fields version 3 added: what a version 2 report means (fields a
    /// version does not define are ignored, so a version 2 body carrying them keeps none).
    pub fn without_v3(self) -> Report {
        let mut report = self.without_v4();
        report.diagnosis = None;
        for c in report.endpoints.iter_mut().flat_map(|e| e.connections.iter_mut()) {
            c.route = None;
            c.access_type = None;
        }
        report
    }

    /// The report without the fields version 4 added: what a version 3 report means (a version 3
    /// body carrying them keeps none).
    pub fn without_v4(mut self) -> Report {
        use crate::tls::TlsOutcome;
        for tls in self.endpoints.iter_mut().flat_map(|e| e.connections.iter_mut()).filter_map(|c| c.tls.as_mut()) {
            tls.retry = None;
            if let Some(cert) = tls.certificate.as_mut() {
                cert.not_before = None;
            }
            match &mut tls.outcome {
                TlsOutcome::Untrusted { reason, task_clock, .. } => {
                    *reason = None;
                    *task_clock = None;
                }
                TlsOutcome::Error { cause, alert, .. } => {
                    *cause = None;
                    *alert = None;
                }
                _ => {}
            }
        }
        self
    }
}
