//! The check, end to end, in a VPC built from network namespaces: the real binary in a task
//! namespace, dnsmasq as the VPC resolver, real listeners, iptables faults, real timeouts.
//!
//! Needs root. Off CI these tests skip (saying so) when not root; on CI, or with
//! NETREADY_LAB=required, they fail instead.

#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use netready_lab::{Egress, Lab, LabSpec, TASK_PUBLIC_IP};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const REGION: &str = "eu-west-3";
const ACCOUNT: &str = "111122223333";

fn host(service: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    match service {
        "secretsmanager" => format!("secretsmanager.{region}.{suffix}"),
        "logs" => format!("logs.{region}.{suffix}"),
        "ecr_api" => format!("api.ecr.{region}.{suffix}"),
        "ecr_dkr" => format!("{ACCOUNT}.dkr.ecr.{region}.{suffix}"),
        "s3" => format!("s3.{region}.{suffix}"),
        other => panic!("unknown service {other}"),
    }
}

/// The five endpoints at the given addresses. ECR Docker is answered by a wildcard, as an
/// `ecr.dkr` interface endpoint with private DNS answers `*.dkr.ecr.<region>.amazonaws.com`.
fn endpoints(region: &str, addrs: [&[&str]; 5]) -> LabSpec {
    let mut spec = LabSpec::default();
    for (service, a) in ["secretsmanager", "logs", "ecr_api", "s3"].iter().zip([addrs[0], addrs[1], addrs[2], addrs[4]])
    {
        spec = spec.endpoint(&host(service, region), a);
    }
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    spec.wildcards.push((format!("dkr.ecr.{region}.{suffix}"), addrs[3][0].to_owned()));
    spec.listeners.push(addrs[3][0].to_owned());
    spec
}

const PRIVATE: [&[&str]; 5] = [&["10.0.2.10"], &["10.0.2.11"], &["10.0.2.12"], &["10.0.2.13"], &["10.0.2.14"]];
const PUBLIC: [&[&str]; 5] =
    [&["203.0.113.10"], &["203.0.113.11"], &["203.0.113.12"], &["203.0.113.13"], &["203.0.113.14"]];

struct Run {
    code: i32,
    report: Value,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `netready check --output json` in the task namespace.
fn check(lab: &Lab, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["check", "--output", "json"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let Output { status, stdout, stderr } = cmd.output().expect("run netready");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{stderr}\ndnsmasq:\n{}", lab.dns_log()));
    assert_valid(&report);
    Run { code: status.code().unwrap_or(-1), report, stdout, stderr, elapsed }
}

fn assert_valid(report: &Value) {
    let schema: Value = serde_json::from_str(netready_check::report::SCHEMA_V1).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not match schema/report-v1.schema.json: {errors:#?}\n{report:#}");
}

fn endpoint<'a>(run: &'a Run, service: &str) -> &'a Value {
    run.report["endpoints"]
        .as_array()
        .and_then(|eps| eps.iter().find(|e| e["service"] == service))
        .unwrap_or_else(|| panic!("no endpoint {service} in {:#}", run.report))
}

fn field<'a>(run: &'a Run, service: &str, path: &str) -> &'a Value {
    path.split('.').fold(endpoint(run, service), |v, k| &v[k])
}

fn access_types(run: &Run) -> Vec<String> {
    run.report["endpoints"].as_array().unwrap().iter().map(|e| e["access_type"].as_str().unwrap().to_owned()).collect()
}

fn lab(spec: LabSpec) -> Option<Lab> {
    if !netready_lab::ready() {
        return None;
    }
    Some(Lab::build(spec).unwrap_or_else(|e| panic!("cannot build the lab: {e}")))
}

/// The task metadata samples, moved into the lab's VPC and region.
fn metadata() -> (String, String) {
    let fix = |s: &str| {
        s.replace("192.0.2.3", "10.0.1.10").replace("192.0.2.0/24", "10.0.1.0/24").replace("us-west-2", REGION)
    };
    (
        fix(include_str!("../../../tests/fixtures/tmds-v4-fargate-task.json")),
        fix(include_str!("../../../tests/fixtures/tmds-v4-fargate-container.json")),
    )
}

#[test]
fn all_interface_endpoints_with_task_metadata_are_ready() {
    let Some(lab) = lab(LabSpec { metadata: Some(metadata()), ..endpoints(REGION, PRIVATE) }) else {
        return;
    };
    let uri = lab.metadata_uri();
    let run = check(&lab, &[], &[("ECS_CONTAINER_METADATA_URI_V4", &uri)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.report["status"], "ready");
    assert_eq!(access_types(&run), ["vpc_endpoint"; 5]);
    let task = &run.report["task"];
    assert_eq!(task["region"], REGION);
    assert_eq!(task["partition"], "aws");
    assert_eq!(task["account_id"], ACCOUNT);
    assert_eq!(task["cluster"], "default");
    assert_eq!(task["availability_zone"], "eu-west-3a");
    assert_eq!(task["private_ipv4"], "10.0.1.10");
    assert_eq!(task["subnet_cidr"], "10.0.1.0/24");
    assert_eq!(task["public_ip"]["source"], "unknown");
    assert_eq!(run.report["warnings"], serde_json::json!([]));
    assert_eq!(field(&run, "ecr_dkr", "host"), &host("ecr_dkr", REGION));
    for service in ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"] {
        assert_eq!(field(&run, service, "reachability"), "full", "{service}");
        assert_eq!(field(&run, service, "dns.outcome"), "ok");
        assert_eq!(field(&run, service, "dns.server"), "10.0.0.2:53");
        assert_eq!(field(&run, service, "connections")[0]["outcome"], "ok");
        assert_eq!(field(&run, service, "hints"), &serde_json::json!([]));
    }
    assert_eq!(field(&run, "logs", "dns.addresses"), &serde_json::json!([{"ip": "10.0.2.11", "scope": "private"}]));
}

#[test]
fn nat_gateway_path() {
    let Some(lab) = lab(endpoints(REGION, PUBLIC)) else {
        return;
    };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--public-ip", "false"], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run), ["nat_gateway"; 5]);
    assert_eq!(field(&run, "s3", "dns.addresses")[0]["scope"], "public");
    // The listeners saw the router's address: the connections really went through the NAT.
    let peers = lab.accepted_at_least(5, Duration::from_secs(2));
    assert_eq!(peers.len(), 5, "{peers:?}");
    assert!(peers.iter().all(|(_, peer)| peer.ip().to_string() == "198.51.100.1"), "{peers:?}");
}

#[test]
fn internet_gateway_with_a_public_ip() {
    let Some(lab) = lab(LabSpec { egress: Egress::InternetGateway, ..endpoints(REGION, PUBLIC) }) else {
        return;
    };
    let run =
        check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[("NETREADY_ASSIGN_PUBLIC_IP", "ENABLED")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run), ["internet_gateway"; 5]);
    assert_eq!(run.report["task"]["public_ip"]["assigned"], true);
    assert_eq!(run.report["task"]["public_ip"]["source"], "config");
    let peers = lab.accepted_at_least(5, Duration::from_secs(2));
    assert!(peers.len() == 5 && peers.iter().all(|(_, p)| p.ip().to_string() == TASK_PUBLIC_IP), "{peers:?}");
}

#[test]
fn an_igw_subnet_without_a_public_ip_has_no_outbound_connectivity() {
    let Some(lab) = lab(LabSpec { egress: Egress::None, ..endpoints(REGION, PUBLIC) }) else {
        return;
    };
    let run = check(
        &lab,
        &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--public-ip", "false", "--timeout", "1s"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.report["status"], "degraded");
    for service in ["secretsmanager", "s3"] {
        assert_eq!(field(&run, service, "reachability"), "none");
        assert_eq!(field(&run, service, "connections")[0]["outcome"], "timeout");
        let hint = field(&run, service, "hints")[0].as_str().unwrap();
        assert!(hint.contains("NAT gateway"), "{hint}");
    }
}

#[test]
fn s3_through_nat_next_to_interface_endpoints() {
    let mut addrs = PRIVATE;
    addrs[4] = &["203.0.113.20", "203.0.113.21"];
    let mut spec = endpoints(REGION, addrs);
    // S3's public DNS answers through a CNAME chain.
    spec.dns.retain(|(h, _)| !h.starts_with("s3."));
    spec.dns.push(("s3-w.eu-west-3.amazonaws.com".into(), vec!["203.0.113.20".into(), "203.0.113.21".into()]));
    spec.cnames.push(("s3-r-w.eu-west-3.amazonaws.com".into(), "s3-w.eu-west-3.amazonaws.com".into()));
    spec.cnames.push((host("s3", REGION), "s3-r-w.eu-west-3.amazonaws.com".into()));
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--public-ip", "false"], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run), ["vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "nat_gateway"]);
    assert_eq!(
        field(&run, "s3", "dns.cname_chain"),
        &serde_json::json!(["s3-r-w.eu-west-3.amazonaws.com", "s3-w.eu-west-3.amazonaws.com"])
    );
    assert_eq!(field(&run, "s3", "connections").as_array().unwrap().len(), 2);
    let hints = field(&run, "s3", "hints").to_string();
    assert!(hints.contains("S3 gateway endpoint"), "{hints}");
}

#[test]
fn a_security_group_that_drops_443_to_one_endpoint_times_out_within_the_deadline() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else {
        return;
    };
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.2.11", "-p", "tcp", "--dport", "443", "-j", "DROP"])
        .unwrap();
    let run = check(
        &lab,
        &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--vpc-cidr", "10.0.0.0/16", "--timeout", "1s"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.report["status"], "degraded");
    assert_eq!(field(&run, "logs", "reachability"), "none");
    assert_eq!(field(&run, "logs", "access_type"), "vpc_endpoint");
    assert_eq!(field(&run, "logs", "connections")[0]["outcome"], "timeout");
    let hint = field(&run, "logs", "hints")[0].as_str().unwrap();
    assert!(hint.contains("security group of the com.amazonaws.eu-west-3.logs interface endpoint"), "{hint}");
    for other in ["secretsmanager", "ecr_api", "ecr_dkr", "s3"] {
        assert_eq!(field(&run, other, "reachability"), "full", "{other}");
    }
    // Bounded: the check waited for the deadline, and not much longer.
    assert!(run.elapsed >= Duration::from_millis(950), "{:?}", run.elapsed);
    assert!(run.elapsed < Duration::from_millis(1500), "took {:?} with a 1s deadline", run.elapsed);
    let duration = run.report["duration_ms"].as_u64().unwrap();
    assert!((950..1300).contains(&duration), "duration_ms {duration}");
    insta::assert_json_snapshot!("security_group_drop_report", run.report, {
        ".checked_at" => "[checked_at]",
        ".duration_ms" => "[ms]",
        ".endpoints[].dns.duration_ms" => "[ms]",
        ".endpoints[].connections[].duration_ms" => "[ms]",
    });
}

#[test]
fn a_refused_port_is_reported_as_refused() {
    let mut spec = endpoints(REGION, PRIVATE);
    spec.listeners.retain(|a| a != "10.0.2.12");
    spec.closed.push("10.0.2.12".into());
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(field(&run, "ecr_api", "connections")[0]["outcome"], "refused");
    assert_eq!(field(&run, "ecr_api", "reachability"), "none");
    assert!(field(&run, "ecr_api", "hints").to_string().contains("refused port 443"));
    assert!(run.report["duration_ms"].as_u64().unwrap() < 1000, "a refusal is immediate");
}

#[test]
fn nxdomain_is_reported_and_degrades() {
    let mut spec = endpoints(REGION, PRIVATE);
    spec.dns.retain(|(h, _)| !h.starts_with("secretsmanager."));
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(field(&run, "secretsmanager", "dns.outcome"), "nxdomain");
    assert_eq!(field(&run, "secretsmanager", "access_type"), "unknown");
    assert_eq!(field(&run, "secretsmanager", "connections"), &serde_json::json!([]));
    assert!(field(&run, "secretsmanager", "hints")[0].as_str().unwrap().contains("enable private DNS"));
    assert_eq!(field(&run, "logs", "reachability"), "full");
}

#[test]
fn an_unreachable_resolver_times_out_every_endpoint_within_the_deadline() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else {
        return;
    };
    for proto in ["udp", "tcp"] {
        lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-p", proto, "--dport", "53", "-j", "DROP"]).unwrap();
    }
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "1500ms"], &[]);
    assert_eq!(run.code, 1);
    for service in ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"] {
        assert_eq!(field(&run, service, "dns.outcome"), "timeout", "{service}");
        assert_eq!(field(&run, service, "access_type"), "unknown");
        assert!(field(&run, service, "hints")[0].as_str().unwrap().contains("VPC resolver"));
    }
    assert!(run.elapsed >= Duration::from_millis(1450), "{:?}", run.elapsed);
    assert!(run.elapsed < Duration::from_millis(2000), "took {:?} with a 1.5s deadline", run.elapsed);
}

#[test]
fn proxy_variables_are_named_but_bypassed_and_their_secrets_never_shown() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else {
        return;
    };
    // The proxy address exists nowhere: any probe sent through it would fail.
    let proxy = "http://runner:hunter2-s3cr3t@10.0.1.99:3128";
    let env = [("HTTPS_PROXY", proxy), ("http_proxy", proxy), ("ALL_PROXY", proxy), ("NO_PROXY", "169.254.170.2")];
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &env);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.report["proxy"],
        serde_json::json!({"configured": true, "variables": ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"]})
    );
    assert!(!run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"));
    let table = lab.task_command(BIN.as_ref()).args(["check", "--region", REGION]).envs(env).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("Proxy variables set, and bypassed by the probes: HTTPS_PROXY, http_proxy, ALL_PROXY"),
        "{table}"
    );
    assert!(!table.contains("s3cr3t"));
}

#[test]
fn one_of_several_s3_addresses_down_is_partial() {
    let mut addrs = PRIVATE;
    addrs[4] = &["10.0.3.20", "10.0.3.21", "10.0.3.22"];
    let Some(lab) = lab(endpoints(REGION, addrs)) else {
        return;
    };
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.3.21", "-p", "tcp", "-j", "DROP"]).unwrap();
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "800ms"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(field(&run, "s3", "reachability"), "partial");
    let mut outcomes: Vec<(String, String)> = field(&run, "s3", "connections")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ip"].as_str().unwrap().to_owned(), c["outcome"].as_str().unwrap().to_owned()))
        .collect();
    outcomes.sort(); // in the order DNS gave them, which dnsmasq varies
    assert_eq!(
        outcomes,
        [("10.0.3.20".into(), "ok".into()), ("10.0.3.21".into(), "timeout".into()), ("10.0.3.22".into(), "ok".into())]
    );
    assert!(field(&run, "s3", "hints").to_string().contains("Only some addresses"));
}

#[test]
fn a_vpc_cidr_outside_rfc1918_counts_as_private() {
    let addrs: [&[&str]; 5] =
        [&["198.18.2.10"], &["198.18.2.11"], &["198.18.2.12"], &["198.18.2.13"], &["198.18.2.14"]];
    let Some(lab) = lab(LabSpec { vpc: [198, 18], ..endpoints(REGION, addrs) }) else {
        return;
    };
    let args = ["--region", REGION, "--ecr-registry-id", ACCOUNT, "--public-ip", "false"];
    let run = check(&lab, &args, &[("NETREADY_VPC_CIDRS", "198.18.0.0/16")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run), ["vpc_endpoint"; 5]);
    assert_eq!(field(&run, "logs", "dns.addresses")[0]["scope"], "private");
    // Without the VPC CIDR the same addresses look public: the classification depends on it.
    let run = check(&lab, &args, &[]);
    assert_eq!(access_types(&run), ["nat_gateway"; 5]);
}

#[test]
fn the_china_partition() {
    let region = "cn-north-1";
    let Some(lab) = lab(endpoints(region, PRIVATE)) else {
        return;
    };
    let run = check(&lab, &["--region", region, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.report["task"]["partition"], "aws-cn");
    let hosts: Vec<&str> =
        run.report["endpoints"].as_array().unwrap().iter().map(|e| e["host"].as_str().unwrap()).collect();
    assert_eq!(
        hosts,
        [
            "secretsmanager.cn-north-1.amazonaws.com.cn",
            "logs.cn-north-1.amazonaws.com.cn",
            "api.ecr.cn-north-1.amazonaws.com.cn",
            "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "s3.cn-north-1.amazonaws.com.cn",
        ]
    );
}

#[test]
fn unreachable_task_metadata_is_a_warning_not_a_failure() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else {
        return;
    };
    let uri = lab.metadata_uri();
    let run =
        check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[("ECS_CONTAINER_METADATA_URI_V4", &uri)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let warnings = run.report["warnings"].to_string();
    assert!(warnings.contains("task metadata unavailable") && warnings.contains("169.254.170.2"), "{warnings}");
    assert_eq!(run.report["task"]["account_id"], Value::Null);
}

#[test]
fn the_table_shows_the_same_facts() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else {
        return;
    };
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.2.11", "-p", "tcp", "--dport", "443", "-j", "DROP"])
        .unwrap();
    let out = lab
        .task_command(BIN.as_ref())
        .args(["check", "--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "500ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("netready check: DEGRADED — eu-west-3 (aws), 5 endpoints in "), "{table}");
    let logs = table.lines().find(|l| l.starts_with("logs ")).unwrap_or_else(|| panic!("{table}"));
    for part in ["vpc_endpoint", "none", "0/1 ok; 10.0.2.11 timeout", "logs.eu-west-3.amazonaws.com:443"] {
        assert!(logs.contains(part), "{part} not in '{logs}'");
    }
    assert!(table.contains("Hints:\n  - logs: Connections to the private address time out"), "{table}");
}
