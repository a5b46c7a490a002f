//! Why a task stopped before it ran, read from ECS's own words: the task's `stoppedReason` and each
//! container's `reason`, tied to the service they name and the phase that failed (DNS, connect,
//! permission). The texts are the ones Fargate writes when an endpoint is out of reach
//! (`CannotPullContainerError … dial tcp …:443: i/o timeout`, `ResourceInitializationError: unable
//! to pull secrets or registry auth … unable to retrieve ecr registry auth`, `… unable to retrieve
//! secret from asm`, `… failed to create Cloudwatch log stream`), with their `context deadline
//! exceeded` and `no such host` variants; real examples are in `tests/stopped-reasons/`.

use serde::{Deserialize, Serialize};

use crate::findings::{Finding, Severity};
use crate::service::ServiceKey;
use crate::verdict::Verdict;

/// Which step failed, as the reason tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The name did not resolve (`no such host`, `lookup …`).
    Dns,
    /// No connection or no answer (`dial tcp …: i/o timeout`, `connection refused`, `context deadline
    /// exceeded`, `RequestCanceled`, `send request failed`).
    Connect,
    /// The call was answered and refused (`AccessDenied`, `403 Forbidden`): IAM, not the network.
    Permission,
    /// Something else (an image that does not exist, an application exit).
    Other,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Permission => "permission",
            Phase::Other => "other",
        }
    }
}

/// One reason, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReason {
    /// `task` for `stoppedReason`, else the container's name.
    pub source: String,
    /// ECS's text, as it was.
    pub text: String,
    /// The service it points at, when it names one.
    pub service: Option<ServiceKey>,
    pub phase: Phase,
    /// The `host:port` or `address:port` it names (`dial tcp 52.46.153.132:443`, `lookup api.ecr…`).
    pub address: Option<String>,
}

/// A stopped task: where it ran and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedTask {
    pub task_arn: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub reasons: Vec<StopReason>,
}

/// The service a reason's text names: by the host in it, else by ECS's own phrase.
pub fn service_of(text: &str) -> Option<ServiceKey> {
    let t = text.to_ascii_lowercase();
    let hosts: [(&str, ServiceKey); 6] = [
        ("starport-layer-bucket", ServiceKey::S3),
        (".dkr.ecr.", ServiceKey::EcrDkr),
        ("api.ecr.", ServiceKey::EcrApi),
        ("secretsmanager.", ServiceKey::SecretsManager),
        ("logs.", ServiceKey::Logs),
        ("s3.", ServiceKey::S3),
    ];
    // The host a failed request names decides (`Post "https://api.ecr…"`, `lookup logs.…`).
    let named = hosts.iter().filter_map(|(h, s)| t.find(h).map(|i| (i, *s))).min_by_key(|(i, _)| *i);
    let phrases: [(&str, ServiceKey); 5] = [
        ("unable to retrieve ecr registry auth", ServiceKey::EcrApi),
        ("unable to retrieve secret from asm", ServiceKey::SecretsManager),
        ("unable to get registry auth from asm", ServiceKey::SecretsManager),
        ("failed to create cloudwatch log stream", ServiceKey::Logs),
        ("cannotpullcontainererror", ServiceKey::EcrDkr),
    ];
    let by_phrase = phrases.iter().find(|(p, _)| t.contains(p)).map(|(_, s)| *s);
    // A pull's layers come from S3; its manifest and auth from ECR: the host is the better witness,
    // except that an ECR-auth phrase names its call even when the text quotes another host.
    match (by_phrase, named) {
        (Some(ServiceKey::EcrDkr), Some((_, s))) => Some(s),
        (Some(p), _) => Some(p),
        (None, n) => n.map(|(_, s)| s),
    }
}

/// The phase a reason's text names.
pub fn phase_of(text: &str) -> Phase {
    let t = text.to_ascii_lowercase();
    if t.contains("no such host") || t.contains("server misbehaving") {
        Phase::Dns
    } else if t.contains("accessdenied") || t.contains("403 forbidden") || t.contains("not authorized") {
        Phase::Permission
    } else if [
        "i/o timeout",
        "connection refused",
        "context deadline exceeded",
        "requestcanceled",
        "send request failed",
        "network is unreachable",
        "connection reset",
    ]
    .iter()
    .any(|p| t.contains(p))
    {
        Phase::Connect
    } else {
        Phase::Other
    }
}

/// The `address:port` after `dial tcp `, or the host after `lookup `.
fn address_of(text: &str) -> Option<String> {
    let word_after = |marker: &str| {
        text.find(marker).map(|i| {
            text[i + marker.len()..]
                .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
                .next()
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_owned()
        })
    };
    word_after("dial tcp ")
        .filter(|w| !w.is_empty() && w != "lookup")
        .or_else(|| word_after("lookup "))
        .filter(|w| !w.is_empty())
}

/// Reads one reason.
pub fn parse(source: &str, text: &str) -> StopReason {
    StopReason {
        source: source.to_owned(),
        text: text.to_owned(),
        service: service_of(text),
        phase: phase_of(text),
        address: address_of(text),
    }
}

/// A finding per reason that names a service, next to the model's verdict for it.
pub fn findings(task: &StoppedTask, verdict_of: impl Fn(ServiceKey) -> Option<Verdict>) -> Vec<Finding> {
    task.reasons
        .iter()
        .filter_map(|r| {
            let service = r.service?;
            let verdict = verdict_of(service);
            let (agrees, remedy) = match (r.phase, verdict) {
                (Phase::Permission, _) => (
                    "the call was refused: the task execution role lacks a permission, not the network".to_owned(),
                    "grant the task execution role the action named in the reason (AmazonECSTaskExecutionRolePolicy, and \
                     secretsmanager:GetSecretValue for secrets)",
                ),
                (_, Some(Verdict::Blocked)) => (
                    "the model agrees: the configuration blocks it (see the service's findings)".to_owned(),
                    "fix what the service's blocking finding names, then start the task again",
                ),
                (_, Some(Verdict::Unknown)) => (
                    "the model cannot tell (see why the service is unknown)".to_owned(),
                    "follow the service's unknown finding; the reason shows where the task failed",
                ),
                (_, Some(Verdict::Reachable)) => (
                    "the model says reachable: the cause lies outside what the VPC configuration shows (a firewall, an \
                     appliance, DNS firewall, a proxy) or the configuration changed since"
                        .to_owned(),
                    "check AWS Network Firewall, Route 53 Resolver DNS Firewall and appliances on the path",
                ),
                (_, None) => ("the model did not evaluate it".to_owned(), "run the diagnosis with the task's subnet and groups"),
            };
            Some(Finding {
                id: "task.stopped_reason".into(),
                severity: if r.phase == Phase::Other { Severity::Warning } else { Severity::Error },
                resources: vec![task.task_arn.clone()],
                message: format!(
                    "{} says \"{}\": {} ({} phase{}); {agrees}",
                    if r.source == "task" { "the task's stoppedReason".to_owned() } else { format!("container {}", r.source) },
                    r.text,
                    service.display_name(),
                    r.phase.as_str(),
                    r.address.as_ref().map(|a| format!(", {a}")).unwrap_or_default()
                ),
                remedy: remedy.into(),
                endpoints: vec![service],
                addresses: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Real reasons, as ECS wrote them (account ids and addresses as in AWS's documentation and
    /// public reports), one per line: `service phase text`.
    const FIXTURES: &str = include_str!("../tests/stopped-reasons/reasons.txt");

    #[test]
    fn real_reasons_name_their_service_and_phase() {
        let mut n = 0;
        for line in FIXTURES.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let mut parts = line.splitn(3, ' ');
            let (service, phase, text) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let r = parse("task", text);
            assert_eq!(r.service.map(|s| s.as_str()).unwrap_or("-"), service, "{text}");
            assert_eq!(r.phase.as_str(), phase, "{text}");
            n += 1;
        }
        assert!(n >= 8, "{n} fixtures");
    }

    #[test]
    fn addresses_are_read_from_dial_and_lookup() {
        let r = parse("task", "CannotPullContainerError: dial tcp 52.46.153.132:443: i/o timeout");
        assert_eq!(r.address.as_deref(), Some("52.46.153.132:443"));
        let r = parse("task", "dial tcp: lookup api.ecr.eu-west-3.amazonaws.com on 10.0.0.2:53: no such host");
        assert_eq!(r.address.as_deref(), Some("api.ecr.eu-west-3.amazonaws.com"));
        assert_eq!(r.phase, Phase::Dns);
    }

    #[test]
    fn the_finding_quotes_the_reason_and_the_verdict() {
        let task = StoppedTask {
            task_arn: "arn:aws:ecs:eu-west-3:123456789012:task/c/1".into(),
            stop_code: Some("TaskFailedToStart".into()),
            stopped_reason: None,
            reasons: vec![parse(
                "task",
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post \"https://api.ecr.eu-west-3.amazonaws.com/\": dial tcp 52.46.146.144:443: i/o timeout",
            )],
        };
        let f = findings(&task, |_| Some(Verdict::Blocked));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].endpoints, [ServiceKey::EcrApi]);
        assert!(f[0].message.contains("connect phase"), "{}", f[0].message);
        assert!(f[0].message.contains("the model agrees"), "{}", f[0].message);
        let f = findings(&task, |_| Some(Verdict::Reachable));
        assert!(f[0].message.contains("outside what the VPC configuration shows"));
    }
}
