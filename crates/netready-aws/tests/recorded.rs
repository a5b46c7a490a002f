//! Discovery through the real SDK client against recorded responses (`tests/recorded/`, in the
//! shapes of the EC2 Query API's XML and ECS's JSON), served on loopback: the cases moto cannot
//! produce — a blackhole route, an interface endpoint's interface in its subnet with its security
//! group, the region's S3 prefix list, a custom network ACL with its `*` entries, a public IP from
//! `AssignPublicIp`, `UnauthorizedOperation` and ECS's JSON `AccessDeniedException` — fed to the
//! pure rules.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use netready_aws::{Discovery, Options};
use netready_diagnose::facts::{Gap, HostedZone, NetworkFacts};
use netready_diagnose::{AccessType, EndpointAddresses, ServiceKey as Service, Severity};

const TASK_ARN: &str = "arn:aws:ecs:eu-west-3:111122223333:task/runners/e9028f8d5d8e4f258373e7b93ce9a3c3";

fn recorded(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/recorded").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Overrides: an action (or `ecs:DescribeTasks`) answered with this status and file instead.
type Overrides = HashMap<&'static str, (u16, &'static str)>;

/// Serves the recorded responses, like EC2 (form-encoded `Action=…`) and ECS (`X-Amz-Target`).
/// Returns the URL and the list of actions asked.
fn serve(overrides: Overrides) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let (mut length, mut target) = (0usize, String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                    break;
                }
                let lower = header.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("x-amz-target:") {
                    target = v.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            // Route 53 is REST: `GET /2013-04-01/hostedzonesbyvpc?…`.
            let route53 = line.contains("/hostedzonesbyvpc");
            let (status, content_type, text) = if route53 {
                overrides.get("route53:ListHostedZonesByVPC").copied().map_or_else(
                    || (200, "text/xml", recorded("route53-ListHostedZonesByVPC.xml")),
                    |(status, file)| (status, "text/xml", recorded(file)),
                )
            } else {
                answer(&overrides, &target, &body)
            };
            log.lock().unwrap().push(match () {
                _ if route53 => "route53:ListHostedZonesByVPC".to_owned(),
                _ if target.is_empty() => action(&body),
                _ => target.clone(),
            });
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, asked)
}

fn action(body: &str) -> String {
    body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or_default().to_owned()
}

fn answer(overrides: &Overrides, target: &str, body: &str) -> (u16, &'static str, String) {
    if target.ends_with("describetasks") {
        let (status, file) = overrides.get("ecs:DescribeTasks").copied().unwrap_or((200, "ecs-DescribeTasks.json"));
        return (status, "application/x-amz-json-1.1", recorded(file));
    }
    if let Some(op) = target.strip_prefix("route53resolver.") {
        let name = if op == "listresolverrules" { "ListResolverRules" } else { "ListResolverRuleAssociations" };
        let key = format!("route53resolver:{name}");
        let (status, file) = overrides.iter().find(|(k, _)| **k == key).map(|(_, v)| *v).unwrap_or((
            200,
            if name == "ListResolverRules" {
                "route53resolver-ListResolverRules.json"
            } else {
                "route53resolver-ListResolverRuleAssociations.json"
            },
        ));
        return (status, "application/x-amz-json-1.1", recorded(file));
    }
    let action = action(body);
    if let Some((status, file)) = overrides.get(action.as_str()) {
        return (*status, "text/xml", recorded(file));
    }
    let text = match action.as_str() {
        "DescribeNetworkInterfaces" if body.contains("eni-0a1b2c3d4e5f60001") => {
            recorded("DescribeNetworkInterfaces-task.xml")
        }
        "DescribeNetworkInterfaces" => recorded("DescribeNetworkInterfaces-endpoints.xml"),
        "DescribeVpcAttribute" if body.contains("enableDnsSupport") => {
            recorded("DescribeVpcAttribute-enableDnsSupport.xml")
        }
        "DescribeVpcAttribute" => recorded("DescribeVpcAttribute-enableDnsHostnames.xml"),
        "DescribeSecurityGroups" => {
            let items: String = body
                .split('&')
                .filter(|p| p.starts_with("GroupId."))
                .filter_map(|p| p.split_once('='))
                .map(|(_, id)| recorded(&format!("SecurityGroup-{id}.xml")))
                .collect();
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSecurityGroupsResponse \
                 xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n<requestId>1</requestId>\n<securityGroupInfo>\n{items}</securityGroupInfo>\n</DescribeSecurityGroupsResponse>"
            )
        }
        other => recorded(&format!("{other}.xml")),
    };
    (200, "text/xml", text)
}

async fn discover(url: &str) -> Discovery {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "test")))
        .http_client(netready_aws::http_client())
        .build();
    let options = Options { task_arn: Some(TASK_ARN.into()), ..Options::default() };
    netready_aws::discover_with_config(&config, &options).await
}

fn facts(d: Discovery) -> NetworkFacts {
    match d {
        Discovery::Facts(f) => *f,
        other => panic!("no facts: {other:?}"),
    }
}

fn endpoints() -> Vec<EndpointAddresses> {
    let e = |service, host: &str, ip: &str| EndpointAddresses {
        service,
        host: host.into(),
        port: 443,
        addresses: vec![ip.parse().unwrap()],
    };
    vec![
        e(Service::SecretsManager, "secretsmanager.eu-west-3.amazonaws.com", "35.180.1.1"),
        e(Service::Logs, "logs.eu-west-3.amazonaws.com", "10.0.2.25"),
        e(Service::EcrApi, "api.ecr.eu-west-3.amazonaws.com", "35.180.1.3"),
        e(Service::EcrDkr, "111122223333.dkr.ecr.eu-west-3.amazonaws.com", "35.180.1.4"),
        e(Service::S3, "s3.eu-west-3.amazonaws.com", "52.95.155.10"),
    ]
}

#[tokio::test]
async fn recorded_network_read_through_the_sdk() {
    let (url, asked) = serve(Overrides::new());
    let facts = facts(discover(&url).await);
    assert_eq!(facts.gaps, vec![]);
    let eni = facts.eni.as_ref().unwrap();
    assert_eq!(eni.id, "eni-0a1b2c3d4e5f60001");
    assert_eq!(eni.public_ip, Some("15.236.10.20".parse().unwrap()), "AssignPublicIp's address (ipOwnerId amazon)");
    assert_eq!(facts.vpc_cidrs().len(), 2, "IPv4 and IPv6 blocks");
    let table = facts.route_table.as_ref().unwrap();
    assert_eq!((table.id.as_str(), table.main), ("rtb-0a1b2c3d4e5f6task", false), "the explicit association wins");
    assert!(table.routes.iter().any(|r| r.blackhole && r.target == "nat-0a1b2c3d4e5f6dead"));
    let s3 = facts.prefix_list("pl-0a1b2c3d4e5f6s3eu").unwrap();
    assert_eq!(s3.entries.as_ref().unwrap().len(), 3);
    let logs = facts.vpc_endpoints.iter().find(|e| e.id == "vpce-0a1b2c3d4e5f6logs").unwrap();
    assert_eq!(logs.addresses, vec!["10.0.2.25".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(facts.network_acl.as_ref().unwrap().entries.len(), 4);
    assert!(facts.security_group("sg-0a1b2c3d4e5f6vpce").is_some(), "the endpoint's group is read too");
    assert_eq!(facts.vpc.as_ref().unwrap().dns_support, Some(true));
    assert_eq!(eni.owner_id, "111122223333", "the default ECR registry");
    let nat = &facts.nat_gateways.as_ref().unwrap()[0];
    assert_eq!((nat.id.as_str(), nat.state.as_str()), ("nat-0a1b2c3d4e5f6dead", "deleted"));
    assert_eq!(facts.internet_gateways.as_deref(), Some(&["igw-0a1b2c3d4e5f60001".to_owned()][..]));
    assert_eq!(facts.route_tables.len(), 2, "every table of the VPC");
    let zones = facts.private_zones.as_ref().unwrap();
    assert_eq!(zones, &[HostedZone { id: "Z0A1B2C3D4E5F6CORP0001".into(), name: "corp.example".into() }]);
    // The VPC's two rules, not the region's third (another VPC's `amazonaws.com`).
    let rules = facts.resolver_rules.as_ref().unwrap();
    let rules: Vec<(&str, &str, &str, Vec<&str>)> = rules
        .iter()
        .map(|r| {
            (r.id.as_str(), r.domain.as_str(), r.rule_type.as_str(), r.targets.iter().map(String::as_str).collect())
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("rslvr-rr-0a1b2c3d4e5f6corp", "corp.example", "forward", vec!["192.0.2.53:53", "192.0.2.54:53"]),
            ("rslvr-rr-0a1b2c3d4e5f6sys1", "s3.eu-west-3.amazonaws.com", "system", vec![]),
        ]
    );

    let d = netready_diagnose::diagnose(&facts, &endpoints());
    let access: Vec<AccessType> = d.paths.iter().map(|p| p.access_type).collect();
    assert_eq!(
        access,
        [
            AccessType::Unknown,
            AccessType::VpcEndpoint,
            AccessType::Unknown,
            AccessType::Unknown,
            AccessType::GatewayEndpoint
        ]
    );
    assert_eq!(d.paths[1].addresses[0].vpc_endpoint_id.as_deref(), Some("vpce-0a1b2c3d4e5f6logs"));
    let s3_route = d.paths[4].addresses[0].route.as_ref().unwrap();
    assert_eq!(
        (s3_route.destination.as_str(), s3_route.target_id.as_str()),
        ("pl-0a1b2c3d4e5f6s3eu", "vpce-0a1b2c3d4e5f6s3gw")
    );
    let found: Vec<(&str, Severity, Vec<&str>)> = d
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.severity, f.endpoints.iter().map(|e| e.as_str()).collect()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("route.blackhole", Severity::Error, vec!["secretsmanager", "ecr_api", "ecr_dkr"]),
            ("vpc_endpoint.missing", Severity::Error, vec!["secretsmanager"]),
            ("vpc_endpoint.missing", Severity::Error, vec!["ecr_api"]),
            ("vpc_endpoint.missing", Severity::Error, vec!["ecr_dkr"]),
            ("public_ip.unused", Severity::Warning, vec![]),
        ]
    );
    // Every call the policy grants, no other.
    let mut asked: Vec<String> = asked.lock().unwrap().clone();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked.len(),
        netready_aws::IAM_ACTIONS.len() - 2,
        "{asked:?} (GetManagedPrefixListEntries and ecs:DescribeServices are not needed here)"
    );
}

#[tokio::test]
async fn custom_network_acl_without_inbound_entries_denies_the_replies() {
    let (url, _) = serve(Overrides::from([("DescribeNetworkAcls", (200, "DescribeNetworkAcls-no-inbound.xml"))]));
    let facts = facts(discover(&url).await);
    let d = netready_diagnose::diagnose(&facts, &endpoints());
    let f = d.findings.iter().find(|f| f.id == "network_acl.ingress_denied").unwrap();
    assert_eq!(f.resources, ["acl-0a1b2c3d4e5f6task"]);
    assert!(f.message.contains("the final * entry"), "{}", f.message);
    assert!(!d.findings.iter().any(|f| f.id == "network_acl.egress_denied"));
}

#[tokio::test]
async fn unauthorized_operation_names_the_action_and_the_rest_is_read() {
    let (url, _) = serve(Overrides::from([("DescribeNetworkAcls", (403, "UnauthorizedOperation.xml"))]));
    let facts = facts(discover(&url).await);
    assert_eq!(facts.gaps.len(), 1);
    match &facts.gaps[0] {
        Gap::Denied { action, message } => {
            assert_eq!(action, "ec2:DescribeNetworkAcls");
            assert!(message.starts_with("UnauthorizedOperation"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(facts.network_acl.is_none());
    assert!(facts.route_table.is_some());
    let d = netready_diagnose::diagnose(&facts, &endpoints());
    let f = d.findings.iter().find(|f| f.id == "permission.denied").unwrap();
    assert_eq!(f.resources, ["ec2:DescribeNetworkAcls"]);
}

/// A refused Route 53 or Resolver call: a gap naming the action, its fact unread, the rest read, and
/// the model as without it (the services' verdicts do not depend on the zone or rule here).
#[tokio::test]
async fn refused_route53_and_resolver_calls_name_the_action() {
    let (url, _) = serve(Overrides::from([
        ("route53:ListHostedZonesByVPC", (403, "route53-AccessDenied.xml")),
        ("route53resolver:ListResolverRuleAssociations", (400, "route53resolver-AccessDeniedException.json")),
    ]));
    let facts = facts(discover(&url).await);
    let mut denied: Vec<&str> = facts
        .gaps
        .iter()
        .map(|g| match g {
            Gap::Denied { action, .. } => action.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    denied.sort_unstable();
    assert_eq!(denied, ["route53:ListHostedZonesByVPC", "route53resolver:ListResolverRuleAssociations"]);
    assert!(facts.private_zones.is_none() && facts.resolver_rules.is_none());
    assert!(facts.route_table.is_some());
    let d = netready_diagnose::diagnose(&facts, &endpoints());
    let mut resources: Vec<&str> = d
        .findings
        .iter()
        .filter(|f| f.id == "permission.denied")
        .flat_map(|f| f.resources.iter().map(String::as_str))
        .collect();
    resources.sort_unstable();
    assert_eq!(resources, ["route53:ListHostedZonesByVPC", "route53resolver:ListResolverRuleAssociations"]);
    assert_eq!(d.paths[1].access_type, AccessType::VpcEndpoint, "the endpoint's verdict stands");
}

/// moto 5.2.1 answers DescribeTasks with numbers where ECS's model has strings (a container's
/// `cpu` and `memory`): the SDK refuses the answer, and discovery still finds the task's ENI in it
/// and reads the network (with the SDK's refusal alone, every access type stayed `unknown`).
#[tokio::test]
async fn an_answer_the_sdk_refuses_still_names_the_tasks_eni() {
    let (url, asked) = serve(Overrides::from([("ecs:DescribeTasks", (200, "ecs-DescribeTasks-numbers.json"))]));
    let f = facts(discover(&url).await);
    assert_eq!(f.eni.as_ref().map(|e| e.id.as_str()), Some("eni-0a1b2c3d4e5f60001"));
    assert!(f.gaps.is_empty(), "{:?}", f.gaps);
    assert!(asked.lock().unwrap().iter().any(|a| a == "DescribeRouteTables"), "the network was read after it");
}

#[tokio::test]
async fn ecs_access_denied_in_json_means_no_eni() {
    let (url, _) = serve(Overrides::from([("ecs:DescribeTasks", (400, "ecs-AccessDeniedException.json"))]));
    match discover(&url).await {
        Discovery::Unavailable { gaps, .. } => {
            assert!(matches!(&gaps[..], [Gap::Denied { action, .. }] if action == "ecs:DescribeTasks"), "{gaps:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_does_not_answer_costs_the_budget_not_a_hang() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .endpoint_url(&url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "test")))
        .http_client(netready_aws::http_client())
        .build();
    let options = Options {
        eni: Some("eni-1".into()),
        call_timeout: std::time::Duration::from_millis(300),
        budget: std::time::Duration::from_millis(800),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let d = netready_aws::discover_with_config(&config, &options).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    match d {
        Discovery::Unavailable { gaps, .. } => {
            assert!(
                matches!(&gaps[..], [Gap::Failed { action, .. }] if action == "ec2:DescribeNetworkInterfaces"),
                "{gaps:?}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn denial_codes() {
    for code in ["UnauthorizedOperation", "AccessDenied", "AccessDeniedException"] {
        assert!(netready_aws::is_denied(code));
    }
    assert!(!netready_aws::is_denied("Throttling"));
    assert_eq!(netready_aws::denial_in_body("<ErrorResponse><Error><Code>AccessDenied</Code>"), Some("AccessDenied"));
    assert_eq!(
        netready_aws::denial_in_body("{\"__type\":\"com.amazon#AccessDeniedException\"}"),
        Some("AccessDeniedException")
    );
}

#[test]
fn aws_api_modes() {
    use netready_aws::AwsApi;
    assert_eq!("off".parse::<AwsApi>(), Ok(AwsApi::Off));
    assert_eq!("AUTO".parse::<AwsApi>(), Ok(AwsApi::Auto));
    assert_eq!("required".parse::<AwsApi>(), Ok(AwsApi::Required));
    assert!("yes".parse::<AwsApi>().is_err());
}

#[test]
fn the_documented_policy_is_exactly_what_discovery_calls() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/iam-diagnosis-policy.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut documented: Vec<&str> =
        doc["Statement"][0]["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut called = netready_aws::IAM_ACTIONS.to_vec();
    documented.sort_unstable();
    called.sort_unstable();
    assert_eq!(documented, called);
}
