//! The check's [`NetworkSource`] over this crate's discovery (the SDK stays out of the check
//! crate), with the agent's cache of what it read: the glue between the check and the AWS APIs,
//! so that the binary only chooses the mode.
//!
//! `auto` reads when task metadata names the task and the environment names credentials (a task
//! role, keys, a profile); it never waits on instance metadata. `required` always tries, through
//! the SDK's whole credential chain, and not being able to read is an error finding.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use netready_check::network::{Discovered, NetworkSource};
use netready_check::report::TaskInfo;
use netready_diagnose::NetworkFacts;
use tokio::time::Instant;

use crate::{AwsApi, Discovery, Options};

/// How long the agent keeps what it read (unless a probe result changes first).
pub const FACTS_TTL: Duration = Duration::from_secs(5 * 60);

/// What was read, when, and for which task.
#[derive(Debug, Clone)]
struct Cached {
    task_arn: String,
    at: Instant,
    discovered: Discovered,
}

/// Reads the task's network through `netready-aws`; with a cache (the agent), keeps a successful
/// read for [`FACTS_TTL`].
#[derive(Debug, Clone)]
pub struct AwsNetwork {
    mode: AwsApi,
    env: fn(&str) -> Option<String>,
    cache: Option<Arc<Mutex<Option<Cached>>>>,
}

impl AwsNetwork {
    /// For one check: no cache.
    pub fn new(mode: AwsApi) -> AwsNetwork {
        AwsNetwork { mode, env: |name| std::env::var(name).ok(), cache: None }
    }

    /// For the agent: keeps what it read between checks.
    pub fn cached(mode: AwsApi) -> AwsNetwork {
        AwsNetwork { cache: Some(Arc::default()), ..AwsNetwork::new(mode) }
    }

    fn cached_for(&self, task_arn: &str) -> Option<Discovered> {
        let cache = self.cache.as_ref()?.lock().ok()?;
        cache.as_ref().filter(|c| c.task_arn == task_arn && c.at.elapsed() < FACTS_TTL).map(|c| c.discovered.clone())
    }

    fn keep(&self, task_arn: &str, discovered: &Discovered) {
        if let Some(cache) = &self.cache
            && let Ok(mut c) = cache.lock()
        {
            // Only what was read: a task not found yet, or credentials not there yet, is asked again.
            *c = discovered.status.read().then(|| Cached {
                task_arn: task_arn.to_owned(),
                at: Instant::now(),
                discovered: discovered.clone(),
            });
        }
    }

    /// Reads now, whatever the cache holds (and keeps the answer).
    pub async fn read_fresh(&self, task: &TaskInfo, deadline: Instant) -> Discovered {
        let Some(task_arn) = task.task_arn.clone() else {
            return Discovered::not_read(self.mode, NO_TASK);
        };
        if let Some(why) = self.no_credentials() {
            return Discovered::not_read(self.mode, &why);
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        let options = Options {
            mode: self.mode,
            region: Some(task.region.clone()),
            task_arn: Some(task_arn.clone()),
            eni: None,
            call_timeout: crate::DEFAULT_CALL_TIMEOUT.min(budget),
            budget,
            ..Options::default()
        };
        let discovered = from_discovery(self.mode, discover_aside(options).await);
        self.keep(&task_arn, &discovered);
        discovered
    }

    /// Why `auto` does not read (no credentials named by the environment), if so.
    fn no_credentials(&self) -> Option<String> {
        (self.mode == AwsApi::Auto && crate::credentials_in_environment(&self.env).is_none()).then(|| {
            "no AWS credentials in the environment (task role, AWS_ACCESS_KEY_ID, AWS_PROFILE, config files)".to_owned()
        })
    }
}

/// Discovery on a thread and runtime of its own: building the SDK's clients (its HTTPS client
/// reads the system's roots) and its credential chain do blocking work that would otherwise hold
/// up the probes' timers on the check's single thread. A thread, not `spawn_blocking`: a runtime
/// waits for its blocking tasks when it shuts down, and a discovery that overruns the check's
/// deadline must not hold up the process's exit.
async fn discover_aside(options: Options) -> Discovery {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new().name("aws-discovery".into()).spawn(move || {
        let discovery = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(crate::discover(&options)),
            Err(e) => {
                Discovery::Unavailable { reason: format!("cannot start the discovery's runtime: {e}"), gaps: vec![] }
            }
        };
        let _ = tx.send(discovery);
    });
    if let Err(e) = started {
        return Discovery::Unavailable { reason: format!("cannot start the discovery's thread: {e}"), gaps: vec![] };
    }
    rx.await.unwrap_or_else(|_| Discovery::Unavailable {
        reason: "the discovery's thread ended early".into(),
        gaps: vec![],
    })
}

/// Why there is nothing to read outside a task.
const NO_TASK: &str = "no task to read: task metadata (ECS_CONTAINER_METADATA_URI_V4) names no task ARN \
     (outside ECS, `netready diagnose --task-arn` reads a task's network)";

impl NetworkSource for AwsNetwork {
    fn mode(&self) -> AwsApi {
        self.mode
    }

    async fn read(&self, task: &TaskInfo, deadline: Instant) -> Discovered {
        if self.mode == AwsApi::Off {
            return Discovered::off();
        }
        if let Some(hit) = task.task_arn.as_deref().and_then(|arn| self.cached_for(arn)) {
            return hit;
        }
        self.read_fresh(task, deadline).await
    }
}

/// `netready-aws`'s answer as the check takes it.
pub fn from_discovery(mode: AwsApi, discovery: Discovery) -> Discovered {
    match discovery {
        Discovery::Facts(facts) => Discovered::read(mode, *facts, SystemTime::now()),
        Discovery::Skipped(reason) => Discovered::not_read(mode, &reason),
        Discovery::Unavailable { reason, gaps } => {
            // Why nothing could be read, then the refused calls as findings naming the IAM action.
            let gaps = NetworkFacts { gaps, ..NetworkFacts::default() };
            Discovered::unavailable(mode, &reason, netready_diagnose::findings::findings(&gaps, &[], &[]))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netready_check::report::DiagnosisStatus;

    #[test]
    fn an_unavailable_discovery_names_the_refused_action() {
        let d = from_discovery(
            AwsApi::Auto,
            Discovery::Unavailable {
                reason: "cannot read task arn:aws:ecs:eu-west-3:1:task/c/1".into(),
                gaps: vec![netready_diagnose::facts::Gap::Denied {
                    action: "ecs:DescribeTasks".into(),
                    message: "AccessDeniedException".into(),
                }],
            },
        );
        assert_eq!(d.status, DiagnosisStatus::Unavailable);
        let ids: Vec<(&str, netready_diagnose::Severity)> =
            d.findings.iter().map(|f| (f.id.as_str(), f.severity)).collect();
        use netready_diagnose::Severity::{Error, Warning};
        assert_eq!(ids, [("diagnosis.unavailable", Warning), ("permission.denied", Warning)]);
        let required = from_discovery(AwsApi::Required, Discovery::Unavailable { reason: "x".into(), gaps: vec![] });
        assert_eq!(required.findings[0].severity, Error);
        assert!(required.required_but_unread());
    }

    #[tokio::test]
    async fn auto_without_a_task_or_credentials_reads_nothing_at_once() {
        let task = TaskInfo {
            region: "eu-west-3".into(),
            partition: "aws".into(),
            account_id: None,
            task_arn: None,
            cluster: None,
            availability_zone: None,
            private_ipv4: None,
            subnet_cidr: None,
            private_ipv6: None,
            ipv6_subnet_cidr: None,
            public_ip: netready_check::report::PublicIp {
                assigned: None,
                address: None,
                source: netready_check::report::PublicIpSource::Unknown,
            },
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        let d = AwsNetwork::new(AwsApi::Auto).read(&task, deadline).await;
        assert_eq!(d.status, DiagnosisStatus::Skipped);
        assert!(d.note.as_deref().unwrap().contains("no task to read"));
        let with_task = TaskInfo { task_arn: Some("arn:aws:ecs:eu-west-3:111122223333:task/c/1".into()), ..task };
        let source = AwsNetwork { env: |_| None, ..AwsNetwork::new(AwsApi::Auto) };
        let d = source.read(&with_task, deadline).await;
        assert_eq!(d.status, DiagnosisStatus::Skipped);
        assert!(d.note.as_deref().unwrap().contains("no AWS credentials"), "{:?}", d.note);
        assert!(started.elapsed() < Duration::from_millis(500), "no network call, no wait");
        assert_eq!(AwsNetwork::new(AwsApi::Off).read(&with_task, deadline).await, Discovered::off());
    }
}
