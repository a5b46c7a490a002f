//! Which task(s) to diagnose and where they are: a running task's interface (ECS, then EC2), a
//! stopped task's attachment (its interface is gone: the subnet and address it had, the security
//! groups of its service or `--security-group`, and why it stopped), an ECS service's
//! `awsvpcConfiguration`, or the subnets and groups of a task not deployed yet.

use std::net::IpAddr;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use netready_diagnose::facts::{Eni, Gap};
use netready_diagnose::stopped::{self, StoppedTask};
use serde_json::Value;

use crate::calls::Clock;
use crate::convert;
use crate::discovery::{Options, Subject};

/// Where the tasks are.
pub struct Located {
    pub vpc_id: String,
    pub tasks: Vec<Eni>,
    pub stopped: Option<StoppedTask>,
}

/// Why not: the reason, and the calls that failed.
pub struct NotLocated {
    pub reason: String,
    pub gaps: Vec<Gap>,
}

fn not_located(reason: impl Into<String>) -> NotLocated {
    NotLocated { reason: reason.into(), gaps: vec![] }
}

/// A task as `ecs:DescribeTasks` describes it: the fields the diagnosis uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TaskInfo {
    pub eni: Option<String>,
    pub subnet: Option<String>,
    pub private_ip: Option<IpAddr>,
    pub last_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// `service:NAME` for a service's task.
    pub group: Option<String>,
    /// Each container's name and `reason`.
    pub containers: Vec<(String, Option<String>)>,
}

/// The task in a DescribeTasks answer, read from ECS's JSON: also when the SDK refused the answer
/// as a whole (moto 5.2 answers a container's `cpu` and `memory` as numbers where ECS's model has
/// strings; kept as `tests/recorded/ecs-DescribeTasks-numbers.json`). `None` unless it is ECS's
/// JSON with a `tasks` list; `Some(Err)` with the failure's reason when the list is empty.
pub(crate) fn task_in_json(body: &str) -> Option<Result<TaskInfo, String>> {
    let answer: Value = serde_json::from_str(body).ok()?;
    let tasks = answer.get("tasks")?.as_array()?;
    let Some(task) = tasks.first() else {
        let reason = answer.pointer("/failures/0/reason").and_then(Value::as_str).unwrap_or("not returned");
        return Some(Err(reason.to_owned()));
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let details: Vec<(String, String)> = task
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("ElasticNetworkInterface"))
        .filter_map(|a| a.get("details").and_then(Value::as_array))
        .flatten()
        .filter_map(|d| Some((text(d, "name")?, text(d, "value")?)))
        .collect();
    let detail = |k: &str| details.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let containers = task
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| (text(c, "name").unwrap_or_default(), text(c, "reason")))
        .collect();
    Some(Ok(TaskInfo {
        eni: detail("networkInterfaceId"),
        subnet: detail("subnetId"),
        private_ip: detail("privateIPv4Address").and_then(|v| v.parse().ok()),
        last_status: text(task, "lastStatus"),
        stop_code: text(task, "stopCode"),
        stopped_reason: text(task, "stoppedReason"),
        group: text(task, "group"),
        containers,
    }))
}

fn task_from_sdk(task: &aws_sdk_ecs::types::Task) -> TaskInfo {
    let details: Vec<(&str, &str)> = task
        .attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .filter_map(|d| Some((d.name()?, d.value()?)))
        .collect();
    let detail = |k: &str| details.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
    TaskInfo {
        eni: detail("networkInterfaceId"),
        subnet: detail("subnetId"),
        private_ip: detail("privateIPv4Address").and_then(|v| v.parse().ok()),
        last_status: task.last_status().map(str::to_owned),
        stop_code: task.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: task.stopped_reason().map(str::to_owned),
        group: task.group().map(str::to_owned),
        containers: task
            .containers()
            .iter()
            .map(|c| (c.name().unwrap_or_default().to_owned(), c.reason().map(str::to_owned)))
            .collect(),
    }
}

/// The cluster in a task ARN: `arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`.
fn cluster_of(arn: &str) -> Option<String> {
    arn.split_once(":task/").and_then(|(_, rest)| rest.rsplit_once('/')).map(|(c, _)| c.to_owned())
}

fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_owned()
}

/// `ecs:DescribeTasks` for one task.
async fn describe_task(ecs: &aws_sdk_ecs::Client, clock: &Clock, arn: &str) -> Result<TaskInfo, NotLocated> {
    const ACTION: &str = "ecs:DescribeTasks";
    let mut request = ecs.describe_tasks().tasks(arn);
    if let Some(cluster) = cluster_of(arn) {
        request = request.cluster(cluster);
    }
    let gap = |g: Gap| NotLocated { reason: format!("cannot read task {arn}"), gaps: vec![g] };
    let out = match clock.within(ACTION, request.send()).await.map_err(gap)? {
        Ok(out) => out,
        Err(err) => {
            let body = err
                .raw_response()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.body().bytes())
                .map(String::from_utf8_lossy);
            return match body.and_then(|b| task_in_json(&b)) {
                Some(Ok(task)) => Ok(task),
                Some(Err(reason)) => Err(not_located(format!("task {arn} not found ({reason})"))),
                None => Err(gap(clock.gap(ACTION, &err))),
            };
        }
    };
    match out.tasks().first() {
        Some(task) => Ok(task_from_sdk(task)),
        None => {
            let reason = out.failures().first().and_then(|f| f.reason()).unwrap_or("not returned");
            Err(not_located(format!("task {arn} not found ({reason})")))
        }
    }
}

/// A service's `awsvpcConfiguration`: subnets, groups, `assignPublicIp`.
async fn service_config(
    ecs: &aws_sdk_ecs::Client,
    clock: &Clock,
    cluster: &str,
    service: &str,
) -> Result<(Vec<String>, Vec<String>, bool), NotLocated> {
    let out = clock
        .call("ecs:DescribeServices", ecs.describe_services().cluster(cluster).services(service).send())
        .await
        .map_err(|g| NotLocated {
            reason: format!("cannot read service {service} of cluster {cluster}"),
            gaps: vec![g],
        })?;
    let Some(s) = out.services().first() else {
        let reason = out.failures().first().and_then(|f| f.reason()).unwrap_or("not returned");
        return Err(not_located(format!("service {service} not found in cluster {cluster} ({reason})")));
    };
    let Some(vpc) = s.network_configuration().and_then(|n| n.awsvpc_configuration()) else {
        return Err(not_located(format!("service {service} has no awsvpc network configuration (not Fargate?)")));
    };
    let public = vpc.assign_public_ip().is_some_and(|a| a.as_str().eq_ignore_ascii_case("ENABLED"));
    Ok((vpc.subnets().to_vec(), vpc.security_groups().to_vec(), public))
}

/// Planned interfaces, one per subnet, from `ec2:DescribeSubnets`: the VPC, the zone, and a
/// representative address of the subnet (its first host after the 4 AWS reserves).
async fn planned(
    ec2: &aws_sdk_ec2::Client,
    clock: &Clock,
    subnets: &[String],
    groups: &[String],
    public_ip: bool,
    address: Option<IpAddr>,
) -> Result<(String, Vec<Eni>), NotLocated> {
    let out = clock
        .call("ec2:DescribeSubnets", ec2.describe_subnets().set_subnet_ids(Some(subnets.to_vec())).send())
        .await
        .map_err(|g| NotLocated { reason: format!("cannot read subnets {}", subnets.join(", ")), gaps: vec![g] })?;
    let mut tasks = Vec::new();
    for id in subnets {
        let Some(s) = out.subnets().iter().find(|s| s.subnet_id() == Some(id.as_str())) else {
            return Err(not_located(format!("subnet {id} not found")));
        };
        let subnet = convert::subnet(s);
        let first_host = subnet.cidrs.iter().find_map(|n| match n {
            ipnet::IpNet::V4(v) => Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v.network()).wrapping_add(4)))),
            ipnet::IpNet::V6(_) => None,
        });
        tasks.push(Eni {
            subnet_id: subnet.id,
            vpc_id: subnet.vpc_id,
            availability_zone: subnet.availability_zone,
            private_ipv4: address.or(first_host),
            security_group_ids: groups.to_vec(),
            owner_id: s.owner_id().unwrap_or_default().to_owned(),
            planned: true,
            planned_public_ip: public_ip,
            ..Eni::default()
        });
    }
    let vpcs: Vec<&str> = tasks.iter().map(|t| t.vpc_id.as_str()).collect();
    if vpcs.iter().any(|v| *v != vpcs[0]) {
        return Err(not_located(format!(
            "the subnets are in different VPCs ({}): give subnets of one VPC",
            vpcs.join(", ")
        )));
    }
    Ok((vpcs.first().map(|v| (*v).to_owned()).unwrap_or_default(), tasks))
}

/// The running task's interface, by id.
async fn interface(ec2: &aws_sdk_ec2::Client, clock: &Clock, id: &str) -> Result<Option<Eni>, NotLocated> {
    let result = clock
        .within("ec2:DescribeNetworkInterfaces", ec2.describe_network_interfaces().network_interface_ids(id).send())
        .await
        .map_err(|g| NotLocated { reason: format!("cannot read network interface {id}"), gaps: vec![g] })?;
    match result {
        Ok(out) => Ok(out.network_interfaces().first().map(convert::eni)),
        Err(err) if err.code() == Some("InvalidNetworkInterfaceID.NotFound") => Ok(None),
        Err(err) => Err(NotLocated {
            reason: format!("cannot read network interface {id}"),
            gaps: vec![clock.gap("ec2:DescribeNetworkInterfaces", &err)],
        }),
    }
}

/// The task(s) `options` names, and their VPC.
pub async fn locate(
    ec2: &aws_sdk_ec2::Client,
    ecs: &aws_sdk_ecs::Client,
    clock: &Clock,
    options: &Options,
) -> Result<Located, NotLocated> {
    match &options.subject {
        Subject::Planned { subnets, security_groups, public_ip } => {
            let (vpc_id, tasks) = planned(ec2, clock, subnets, security_groups, *public_ip, None).await?;
            Ok(Located { vpc_id, tasks, stopped: None })
        }
        Subject::Service { cluster, service } => {
            let (subnets, groups, public) = service_config(ecs, clock, cluster, service).await?;
            let (vpc_id, tasks) = planned(ec2, clock, &subnets, &groups, public, None).await?;
            Ok(Located { vpc_id, tasks, stopped: None })
        }
        Subject::Task => task(ec2, ecs, clock, options).await,
    }
}

async fn task(
    ec2: &aws_sdk_ec2::Client,
    ecs: &aws_sdk_ecs::Client,
    clock: &Clock,
    options: &Options,
) -> Result<Located, NotLocated> {
    if let Some(id) = &options.eni {
        let eni =
            interface(ec2, clock, id).await?.ok_or_else(|| not_located(format!("network interface {id} not found")))?;
        return Ok(Located { vpc_id: eni.vpc_id.clone(), tasks: vec![eni], stopped: None });
    }
    let Some(arn) = &options.task_arn else {
        return Err(not_located("no task to read: give --task-arn or --eni (in a task, task metadata gives it)"));
    };
    let info = describe_task(ecs, clock, arn).await?;
    let stopped_status = info.last_status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("STOPPED"));
    if let Some(id) = &info.eni
        && !stopped_status
        && let Some(eni) = interface(ec2, clock, id).await?
    {
        return Ok(Located { vpc_id: eni.vpc_id.clone(), tasks: vec![eni], stopped: None });
    }
    if info.eni.is_none() && info.subnet.is_none() {
        return Err(not_located(format!("task {arn} has no network interface attachment (not awsvpc?)")));
    }
    stopped_task(ec2, ecs, clock, options, arn, info).await
}

/// A task whose interface is gone: the subnet and address of its attachment, the groups of
/// `--security-group` or of its service, and its reasons.
async fn stopped_task(
    ec2: &aws_sdk_ec2::Client,
    ecs: &aws_sdk_ecs::Client,
    clock: &Clock,
    options: &Options,
    arn: &str,
    info: TaskInfo,
) -> Result<Located, NotLocated> {
    let Some(subnet) = info.subnet.clone() else {
        return Err(not_located(format!("task {arn} stopped, and its attachment names no subnet")));
    };
    let (groups, public) = if options.security_groups.is_empty() {
        let service = info.group.as_deref().and_then(|g| g.strip_prefix("service:"));
        match (service, cluster_of(arn)) {
            (Some(service), Some(cluster)) => {
                let (_, groups, public) = service_config(ecs, clock, &cluster, service).await?;
                (groups, public)
            }
            _ => {
                return Err(not_located(format!(
                    "task {arn} stopped and was not started by a service: its security groups are not known; give them \
                     with --security-group"
                )));
            }
        }
    } else {
        (options.security_groups.clone(), false)
    };
    let (vpc_id, mut tasks) = planned(ec2, clock, &[subnet], &groups, public, info.private_ip).await?;
    for t in &mut tasks {
        t.owner_id = account_of(arn);
        t.stopped = true;
    }
    let mut reasons: Vec<_> = info.stopped_reason.iter().map(|r| stopped::parse("task", r)).collect();
    reasons.extend(info.containers.iter().filter_map(|(name, r)| r.as_ref().map(|r| stopped::parse(name, r))));
    let stopped = StoppedTask {
        task_arn: arn.to_owned(),
        stop_code: info.stop_code.clone(),
        stopped_reason: info.stopped_reason.clone(),
        reasons,
    };
    Ok(Located { vpc_id, tasks, stopped: Some(stopped) })
}

#[cfg(test)]
mod tests {
    use super::task_in_json;

    #[test]
    fn the_task_is_read_from_an_answer_the_sdk_refused() {
        let numbers = r#"{"tasks":[{"lastStatus":"STOPPED","stoppedReason":"CannotPullContainerError: x",
            "group":"service:runner","attachments":[{"type":"ElasticNetworkInterface","details":[
            {"name":"subnetId","value":"subnet-1"},{"name":"networkInterfaceId","value":"eni-1"},
            {"name":"privateIPv4Address","value":"10.0.1.7"}]}],
            "containers":[{"name":"runner","cpu":0,"memory":512,"reason":"dial tcp 1.2.3.4:443: i/o timeout"}]}],"failures":[]}"#;
        let task = task_in_json(numbers).unwrap().unwrap();
        assert_eq!(task.eni.as_deref(), Some("eni-1"));
        assert_eq!(task.subnet.as_deref(), Some("subnet-1"));
        assert_eq!(task.private_ip, Some([10, 0, 1, 7].into()));
        assert_eq!(task.group.as_deref(), Some("service:runner"));
        assert_eq!(task.containers, [("runner".to_owned(), Some("dial tcp 1.2.3.4:443: i/o timeout".to_owned()))]);
        let missing = r#"{"tasks":[],"failures":[{"arn":"x","reason":"MISSING"}]}"#;
        assert_eq!(task_in_json(missing), Some(Err("MISSING".into())));
        let bridge = task_in_json(r#"{"tasks":[{"attachments":[],"containers":[]}]}"#).unwrap().unwrap();
        assert_eq!(bridge.eni, None);
        // Not an answer to read: the SDK's own error stands.
        assert_eq!(task_in_json("<html>proxy error</html>"), None);
        assert_eq!(task_in_json(r#"{"message":"x"}"#), None);
    }
}
