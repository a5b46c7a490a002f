//! What discovery is asked and what it answers, and the rules that need no SDK: which IAM
//! actions it calls, which credentials the environment names, which error codes are denials.

use std::time::Duration;

use netready_diagnose::AwsApi;
use netready_diagnose::facts::{Eni, Gap, NetworkFacts};
use netready_diagnose::stopped::StoppedTask;

/// The IAM actions discovery calls: exactly the policy in `docs/iam-diagnosis-policy.json`.
pub const IAM_ACTIONS: [&str; 17] = [
    "ecs:DescribeTasks",
    "ecs:DescribeServices",
    "ec2:DescribeNatGateways",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribePrefixLists",
    "ec2:GetManagedPrefixListEntries",
    "route53:ListHostedZonesByVPC",
    "route53resolver:ListResolverRuleAssociations",
    "route53resolver:ListResolverRules",
];

/// How long one API call (with the SDK's retries) may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the whole discovery may take.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);

/// Which task to read, and how patiently.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: AwsApi,
    /// The region; else the SDK's (`AWS_REGION`, the profile), else the task ARN's.
    pub region: Option<String>,
    /// The task, for `ecs:DescribeTasks` (in a task: from task metadata).
    pub task_arn: Option<String>,
    /// The ENI, when known: skips ECS.
    pub eni: Option<String>,
    /// What to read when it is not the task of `task_arn`/`eni`.
    pub subject: Subject,
    /// The security groups of a stopped task (`--security-group`), instead of its service's.
    pub security_groups: Vec<String>,
    pub call_timeout: Duration,
    pub budget: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: AwsApi::Auto,
            region: None,
            task_arn: None,
            eni: None,
            subject: Subject::Task,
            security_groups: Vec::new(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            budget: DEFAULT_BUDGET,
        }
    }
}

/// Whose network to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Subject {
    /// The task of `Options::task_arn` or the interface `Options::eni` (running or stopped).
    #[default]
    Task,
    /// A task not deployed yet: these subnets (one VPC), groups and `AssignPublicIp`.
    Planned { subnets: Vec<String>, security_groups: Vec<String>, public_ip: bool },
    /// An ECS service's `awsvpcConfiguration`.
    Service { cluster: String, service: String },
}

/// The network of one or more tasks (one per subnet): the VPC's facts, read once, and each task's
/// interface (real, or planned from a subnet, a service or a stopped task's attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// VPC-wide: every route table, ACL, endpoint, NAT and internet gateway; `eni` unset.
    pub facts: NetworkFacts,
    pub tasks: Vec<Eni>,
    pub stopped: Option<StoppedTask>,
}

impl Network {
    /// The facts as each task sees them.
    pub fn per_task(&self) -> Vec<NetworkFacts> {
        self.tasks.iter().map(|t| self.facts.for_task(t.clone())).collect()
    }
}

/// What reading several tasks' network produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Skipped(String),
    Unavailable { reason: String, gaps: Vec<Gap> },
    Network(Box<Network>),
}

/// What discovery produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `--aws-api off`, or `auto` without credentials: the reason, for one note.
    Skipped(String),
    /// It should have run and could not (no credentials with `required`, no region, the task or
    /// its ENI not found, a refused essential call): why.
    Unavailable { reason: String, gaps: Vec<Gap> },
    /// The facts, with the gaps of what could not be read.
    Facts(Box<NetworkFacts>),
}

/// The AWS SDK's credential sources that the environment names, cheapest to tell first: keys,
/// container credentials (a task role), web identity, a profile or the shared files. `None` when
/// it names none, so that only instance metadata (IMDS) would be left, which a Fargate task does
/// not have and which may take seconds to fail: `--aws-api auto` then skips at once.
pub fn credentials_in_environment(env: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let vars = [
        ("AWS_ACCESS_KEY_ID", "environment"),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "container credentials (task role)"),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "container credentials"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "web identity"),
        ("AWS_PROFILE", "profile"),
    ];
    if let Some((_, what)) = vars.iter().find(|(name, _)| set(name)) {
        return Some(what);
    }
    let file = |var: &str, default: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .or_else(|| env("HOME").filter(|h| !h.is_empty()).map(|h| format!("{h}/.aws/{default}")))
            .is_some_and(|p| std::path::Path::new(&p).is_file())
    };
    if file("AWS_SHARED_CREDENTIALS_FILE", "credentials") || file("AWS_CONFIG_FILE", "config") {
        return Some("shared config files");
    }
    None
}

/// The error codes that mean "not allowed", in EC2's XML (`UnauthorizedOperation`, and
/// `AccessDenied` from some implementations), ECS's JSON (`AccessDeniedException`) and STS-style
/// (`AccessDenied`) errors.
pub fn is_denied(code: &str) -> bool {
    matches!(code, "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "UnauthorizedAccess")
}

/// The denial code in an error body the client did not understand (XML `<Code>…</Code>` or JSON
/// `"__type": "…#AccessDeniedException"`).
pub fn denial_in_body(body: &str) -> Option<&'static str> {
    ["UnauthorizedOperation", "AccessDeniedException", "AccessDenied", "UnauthorizedAccess"]
        .into_iter()
        .find(|code| body.contains(code))
}

#[cfg(test)]
mod tests {
    use super::credentials_in_environment;

    #[test]
    fn credentials_named_by_the_environment() {
        let none = |_: &str| None;
        assert_eq!(credentials_in_environment(&none), None);
        let task = |k: &str| (k == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").then(|| "/v2/credentials/x".to_owned());
        assert_eq!(credentials_in_environment(&task), Some("container credentials (task role)"));
        let keys = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "AKIA".to_owned());
        assert_eq!(credentials_in_environment(&keys), Some("environment"));
        let empty = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(String::new);
        assert_eq!(credentials_in_environment(&empty), None);
        let home = |k: &str| (k == "HOME").then(|| "/nonexistent-home".to_owned());
        assert_eq!(credentials_in_environment(&home), None);
        let file = std::env::temp_dir().join(format!("netready-aws-config-{}", std::process::id()));
        std::fs::write(&file, "[default]\nregion = eu-west-3\n").ok();
        let path = file.display().to_string();
        let config = move |k: &str| (k == "AWS_CONFIG_FILE").then(|| path.clone());
        assert_eq!(credentials_in_environment(&config), Some("shared config files"));
        let _ = std::fs::remove_file(file);
    }
}
