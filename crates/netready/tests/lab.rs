//! The check, end to end, in a VPC built from network namespaces: the real binary in a task
//! namespace, dnsmasq as the VPC resolver, real listeners, iptables faults, real timeouts.
//!
//! Needs root. Off CI these tests skip (saying so) when not root; on CI, or with
//! NETREADY_LAB=required, they fail instead.

#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use netready_lab::tls::{
    EXPIRED_NOT_AFTER, EXPIRED_NOT_BEFORE, FUTURE_NOT_BEFORE, INTERCEPTION_CA, LAB_CA, WRONG_NAME,
};
use netready_lab::{Egress, Lab, LabSpec, ListenerTls, TASK_IPV6, TASK_PUBLIC_IP, VPC_IPV6};
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
    assert_eq!(report["schema_version"], netready_check::report::SCHEMA_VERSION, "{report:#}");
    let schema: Value = serde_json::from_str(netready_check::report::SCHEMA_V4).expect("schema is JSON");
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not match schema/report-v4.schema.json: {errors:#?}\n{report:#}");
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

/// The task metadata samples, moved into the lab's VPC and region, IPv4 only (the sample task is
/// dual-stack; the lab's task is not unless a test says so).
fn metadata() -> (String, String) {
    let fix = |s: &str| {
        let text =
            s.replace("192.0.2.3", "10.0.1.10").replace("192.0.2.0/24", "10.0.1.0/24").replace("us-west-2", REGION);
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.remove("IPv6Addresses");
                    m.remove("IPv6SubnetCIDRBlock");
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut doc);
        doc.to_string()
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
        let conn = &field(&run, service, "connections")[0];
        assert_eq!(conn["tcp"]["outcome"], "ok");
        assert_eq!(conn["tls"]["outcome"], "ok", "{conn}");
        assert_eq!(conn["tls"]["certificate"]["issuer"], format!("CN={LAB_CA}"));
        assert!(conn["tls"]["version"].as_str().unwrap().starts_with("TLSv1."), "{conn}");
        assert_eq!(field(&run, service, "hints"), &serde_json::json!([]));
    }
    assert_eq!(run.report["probe"], serde_json::json!({"tls": true, "ipv6": false, "timeout_ms": 5000}));
    assert_eq!(
        field(&run, "logs", "dns.addresses"),
        &serde_json::json!([{"ip": "10.0.2.11", "family": "ipv4", "scope": "private", "dialled": true, "not_dialled": null}])
    );
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
        assert_eq!(field(&run, service, "connections")[0]["tcp"]["outcome"], "timeout");
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
    assert_eq!(field(&run, "logs", "connections")[0]["tcp"]["outcome"], "timeout");
    assert_eq!(field(&run, "logs", "connections")[0]["tls"], Value::Null);
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
        ".endpoints[].dns.queries[].duration_ms" => "[ms]",
        ".endpoints[].connections[].tcp.duration_ms" => "[ms]",
        ".endpoints[].connections[].tcp.budget_ms" => "[ms]",
        ".endpoints[].connections[].tls.duration_ms" => "[ms]",
        ".endpoints[].connections[].tls.budget_ms" => "[ms]",
        ".endpoints[].connections[].tls.certificate.not_before" => "[issued]",
        ".endpoints[].connections[].tls.certificate.not_after" => "[expiry]",
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
    assert_eq!(field(&run, "ecr_api", "connections")[0]["tcp"]["outcome"], "refused");
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
        .map(|c| (c["ip"].as_str().unwrap().to_owned(), c["tcp"]["outcome"].as_str().unwrap().to_owned()))
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
    for part in ["vpc_endpoint", "none", "0/1 ok; 10.0.2.11 tcp timeout", "logs.eu-west-3.amazonaws.com:443"] {
        assert!(logs.contains(part), "{part} not in '{logs}'");
    }
    assert!(table.contains("Hints:\n  - logs: Connections to the private address time out"), "{table}");
}

// ---- Real AWS networks: dual stack, sinkholes, TLS-level blocking (schema version 2). ----

fn tls_outcome(run: &Run, service: &str) -> String {
    field(run, service, "connections")[0]["tls"]["outcome"].as_str().unwrap_or("null").to_owned()
}

#[test]
fn dual_stack_endpoints_on_an_ipv4_only_task_are_judged_by_what_was_dialled() {
    // A dualstack interface endpoint answers A with its private IPv4 and AAAA with an address of
    // the VPC's (global unicast) IPv6 block. The task has no IPv6: the AAAA address is reported,
    // not dialled, and has no say.
    let mut spec = endpoints(REGION, PRIVATE);
    spec.dns.push((host("secretsmanager", REGION), vec!["2600:1f18:4a3:6902::10".into()]));
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(field(&run, "secretsmanager", "access_type"), "vpc_endpoint");
    assert_eq!(field(&run, "secretsmanager", "reachability"), "full");
    assert_eq!(run.report["probe"]["ipv6"], false);
    let addrs = field(&run, "secretsmanager", "dns.addresses").as_array().unwrap();
    let v6 = addrs.iter().find(|a| a["family"] == "ipv6").unwrap_or_else(|| panic!("{addrs:?}"));
    assert_eq!(v6["ip"], "2600:1f18:4a3:6902::10");
    assert_eq!((v6["dialled"].clone(), v6["not_dialled"].clone()), (Value::Bool(false), "task_has_no_ipv6".into()));
    assert_eq!(v6["scope"], "public", "global unicast outside any known CIDR");
    assert_eq!(field(&run, "secretsmanager", "connections").as_array().unwrap().len(), 1);
    let queries: Vec<(String, String)> = field(&run, "secretsmanager", "dns.queries")
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["type"].as_str().unwrap().to_owned(), q["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(queries, [("A".into(), "ok".into()), ("AAAA".into(), "ok".into())]);
    assert_eq!(field(&run, "logs", "dns.queries")[1]["outcome"], "no_records");
}

#[test]
fn a_dual_stack_task_dials_ipv6_too() {
    let mut spec = LabSpec { task_ipv6: true, ..endpoints(REGION, PRIVATE) };
    for (service, v6) in [("secretsmanager", "2600:1f18:4a3:6902::10"), ("logs", "2600:1f18:4a3:6902::11")] {
        spec = spec.endpoint(&host(service, REGION), &[v6]);
    }
    let Some(lab) = lab(spec) else { return };
    // The security group of the logs endpoint lets IPv4 in but not IPv6.
    lab.ns(&lab.vpc_ns, &["ip6tables", "-A", "INPUT", "-d", "2600:1f18:4a3:6902::11", "-p", "tcp", "-j", "DROP"])
        .unwrap();
    let args = ["--region", REGION, "--ecr-registry-id", ACCOUNT, "--ipv6", "true", "--vpc-cidr", VPC_IPV6];
    let run = check(&lab, &[&args[..], &["--timeout", "1s"]].concat(), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.report["probe"]["ipv6"], true);
    let conns = |service: &str| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = field(&run, service, "connections")
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["ip"].as_str().unwrap().to_owned(),
                    c["tcp"]["outcome"].as_str().unwrap().to_owned(),
                    c["tls"]["outcome"].as_str().unwrap_or("null").to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        conns("secretsmanager"),
        [("10.0.2.10".into(), "ok".into(), "ok".into()), ("2600:1f18:4a3:6902::10".into(), "ok".into(), "ok".into())]
    );
    assert_eq!(field(&run, "secretsmanager", "access_type"), "vpc_endpoint", "the VPC's IPv6 block is known");
    assert_eq!(field(&run, "secretsmanager", "reachability"), "full");
    assert_eq!(
        conns("logs"),
        [
            ("10.0.2.11".into(), "ok".into(), "ok".into()),
            ("2600:1f18:4a3:6902::11".into(), "timeout".into(), "null".into())
        ]
    );
    assert_eq!(field(&run, "logs", "reachability"), "partial");
    let peers = lab.accepted_at_least(6, Duration::from_secs(2));
    assert!(peers.iter().any(|(addr, peer)| addr == "2600:1f18:4a3:6902::10" && peer.ip().to_string() == TASK_IPV6));
}

#[test]
fn a_dns_sinkhole_is_never_dialled_even_with_something_on_the_tasks_own_443() {
    let mut spec = endpoints(REGION, PRIVATE);
    spec.dns.retain(|(h, _)| !h.starts_with("logs."));
    spec.dns.push((host("logs", REGION), vec!["0.0.0.0".into()]));
    let Some(mut lab) = lab(spec) else { return };
    let task_ns = lab.task_ns.clone();
    lab.listen_in(&task_ns, "0.0.0.0", 443).unwrap();
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.report["status"], "degraded");
    assert_eq!(field(&run, "logs", "dns.outcome"), "sinkhole");
    assert!(field(&run, "logs", "dns.error").as_str().unwrap().contains("0.0.0.0"));
    assert_eq!(field(&run, "logs", "reachability"), "none");
    assert_eq!(field(&run, "logs", "access_type"), "unknown");
    assert_eq!(field(&run, "logs", "connections"), &serde_json::json!([]));
    assert_eq!(field(&run, "logs", "dns.addresses")[0]["scope"], "special");
    assert_eq!(field(&run, "logs", "dns.addresses")[0]["not_dialled"], "special_purpose");
    let hint = field(&run, "logs", "hints")[0].as_str().unwrap();
    assert!(hint.contains("DNS sinkhole") && hint.contains("DNS Firewall"), "{hint}");
    let peers = lab.accepted_at_least(4, Duration::from_millis(500));
    assert!(peers.iter().all(|(addr, _)| addr != "0.0.0.0"), "the task's own listener was dialled: {peers:?}");
}

#[test]
fn a_firewall_dropping_the_client_hello_by_server_name_times_out_tls_within_the_deadline() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else { return };
    lab.filter_sni(&host("logs", REGION), false).unwrap();
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "1s"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(field(&run, "logs", "connections")[0]["tcp"]["outcome"], "ok", "TCP goes through");
    assert_eq!(tls_outcome(&run, "logs"), "timeout");
    assert_eq!(field(&run, "logs", "reachability"), "none");
    // The small-segment retry, halfway through the handshake's budget, met the same silence.
    let retry = &field(&run, "logs", "connections")[0]["tls"]["retry"];
    assert_eq!(retry["mss"], 536, "{retry}");
    assert_eq!(retry["outcome"], "timeout", "{retry}");
    assert!(halfway(&field(&run, "logs", "connections")[0]["tls"]), "{retry}");
    let hint = field(&run, "logs", "hints")[0].as_str().unwrap();
    assert!(hint.contains("filtering by server name") && hint.contains("allow logs.eu-west-3.amazonaws.com"), "{hint}");
    assert!(hint.contains("also on a second connection with 536-byte segments (so it is not large packets"), "{hint}");
    assert!(!hint.contains("security group") && !hint.contains("black hole"), "{hint}");
    assert_eq!(field(&run, "secretsmanager", "connections")[0]["tls"].get("retry"), None, "no retry when answered");
    assert_eq!(tls_outcome(&run, "secretsmanager"), "ok");
    assert!(run.elapsed < Duration::from_millis(1500), "took {:?} with a 1s deadline", run.elapsed);
    // The source document's plain TCP check says ready here: that is what TLS adds.
    let tcp_only = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--tls", "false"], &[]);
    assert_eq!(tcp_only.code, 0, "{}", tcp_only.stdout);
    assert_eq!(tcp_only.report["probe"]["tls"], false);
    assert_eq!(field(&tcp_only, "logs", "connections")[0]["tls"], Value::Null);
}

#[test]
fn a_firewall_resetting_the_client_hello_is_reported_as_reset() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else { return };
    lab.filter_sni(&host("ecr_api", REGION), true).unwrap();
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(tls_outcome(&run, "ecr_api"), "reset");
    assert!(field(&run, "ecr_api", "connections")[0]["tls"]["error"].as_str().unwrap().contains("reset"));
    assert!(field(&run, "ecr_api", "hints")[0].as_str().unwrap().contains("allow api.ecr.eu-west-3.amazonaws.com"));
    assert!(run.report["duration_ms"].as_u64().unwrap() < 1000, "a reset is immediate");
}

#[test]
fn tls_interception_and_a_wrong_certificate_are_named() {
    let spec = endpoints(REGION, PRIVATE)
        .tls_mode("10.0.2.13", ListenerTls::Intercepted)
        .tls_mode("10.0.2.12", ListenerTls::WrongName);
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let dkr = &field(&run, "ecr_dkr", "connections")[0]["tls"];
    assert_eq!(dkr["outcome"], "untrusted", "{dkr}");
    assert_eq!(dkr["reason"], "unknown_issuer", "{dkr}");
    assert_eq!(dkr["certificate"]["issuer"], format!("CN={INTERCEPTION_CA}"));
    assert_eq!(dkr["certificate"]["subject"], format!("CN={}", netready_lab_first_name(&lab)));
    let hint = field(&run, "ecr_dkr", "hints")[0].as_str().unwrap();
    assert!(hint.contains(INTERCEPTION_CA) && hint.contains("exempt"), "{hint}");
    let api = &field(&run, "ecr_api", "connections")[0]["tls"];
    assert_eq!(api["outcome"], "name_mismatch", "{api}");
    assert_eq!(api["certificate"]["subject"], format!("CN={WRONG_NAME}"));
    assert_eq!(tls_outcome(&run, "logs"), "ok");
    // A CA given with --ca-file is trusted: here the lab's own, so interception stays untrusted.
    let table = lab
        .task_command(BIN.as_ref())
        .args(["check", "--region", REGION, "--ecr-registry-id", ACCOUNT])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("10.0.2.13 tls untrusted"), "{table}");
    assert!(table.contains("TCP + TLS"), "{table}");
}

/// Whether a handshake's retry started halfway through its budget (give or take a busy machine's
/// timer: 100 ms).
fn halfway(tls: &Value) -> bool {
    let (after, budget) = (tls["retry"]["after_ms"].as_u64().unwrap(), tls["budget_ms"].as_u64().unwrap());
    (budget / 2..=budget / 2 + 100).contains(&after)
}

/// The table's text with its lines joined, as one line of words.
fn unwrapped(table: &str) -> String {
    table.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The task's clock in a report, checked against this test's (the lab shares the host's clock).
fn task_clock(tls: &Value) -> String {
    let clock = tls["task_clock"].as_str().unwrap_or_else(|| panic!("no task_clock: {tls}")).to_owned();
    let at = humantime::parse_rfc3339(&clock).unwrap();
    let skew = std::time::SystemTime::now().duration_since(at).unwrap();
    assert!(skew < Duration::from_secs(30), "task clock {clock} is not now");
    clock
}

#[test]
fn an_expired_certificate_names_its_dates_and_the_tasks_clock_not_interception() {
    let spec = endpoints(REGION, PRIVATE)
        .tls_mode("10.0.2.11", ListenerTls::Expired)
        .tls_mode("10.0.2.12", ListenerTls::NotYetValid);
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);

    let logs = &field(&run, "logs", "connections")[0]["tls"];
    assert_eq!(logs["outcome"], "untrusted", "{logs}");
    assert_eq!(logs["reason"], "expired", "{logs}");
    assert_eq!(logs["certificate"]["issuer"], format!("CN={LAB_CA}"), "a trusted issuer");
    assert_eq!(logs["certificate"]["not_before"], EXPIRED_NOT_BEFORE);
    assert_eq!(logs["certificate"]["not_after"], EXPIRED_NOT_AFTER);
    let clock = task_clock(logs);
    assert_eq!(field(&run, "logs", "reachability"), "none");
    let hints = field(&run, "logs", "hints").as_array().unwrap();
    assert_eq!(hints.len(), 1, "{hints:?}");
    let hint = hints[0].as_str().unwrap();
    let dates = format!(
        "at 10.0.2.11 (issued by CN={LAB_CA}, valid from {EXPIRED_NOT_BEFORE} until {EXPIRED_NOT_AFTER}) is expired \
         by the task's clock ({clock})"
    );
    assert!(hint.contains(&dates), "{hint}");
    assert!(hint.contains("If that clock is wrong, fix the task's time"), "{hint}");
    assert!(!hint.contains("not trusted") && !hint.contains("--ca-file") && !hint.contains("inspection)"), "{hint}");

    let api = &field(&run, "ecr_api", "connections")[0]["tls"];
    assert_eq!((api["outcome"].as_str(), api["reason"].as_str()), (Some("untrusted"), Some("not_yet_valid")), "{api}");
    assert_eq!(api["certificate"]["not_before"], FUTURE_NOT_BEFORE);
    let clock = task_clock(api);
    let hint = field(&run, "ecr_api", "hints")[0].as_str().unwrap();
    assert!(hint.contains(&format!("is not yet valid by the task's clock ({clock})")), "{hint}");
    assert_eq!(tls_outcome(&run, "secretsmanager"), "ok");

    // The table's error line names the date and the clock.
    let out = lab.task_command(BIN.as_ref()).args(["check", "--region", REGION, "--ecr-registry-id", ACCOUNT]).output();
    let table = String::from_utf8_lossy(&out.unwrap().stdout).into_owned();
    assert!(unwrapped(&table).contains(&format!("(not after {EXPIRED_NOT_AFTER}, task clock 20")), "{table}");
}

#[test]
fn a_legacy_tls_server_and_a_plain_text_answer_say_what_answered() {
    let spec = endpoints(REGION, PRIVATE)
        .tls_mode("10.0.2.10", ListenerTls::LegacyTls)
        .tls_mode("10.0.2.14", ListenerTls::Http);
    let Some(lab) = lab(spec) else { return };
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);

    let sm = &field(&run, "secretsmanager", "connections")[0]["tls"];
    assert_eq!(sm["outcome"], "error", "{sm}");
    assert_eq!(sm["cause"], "alert", "{sm}");
    assert_eq!(sm["alert"], "protocol_version", "{sm}");
    assert_eq!(sm["error"], "received fatal alert: ProtocolVersion", "{sm}");
    assert_eq!(sm["certificate"], Value::Null);
    let hint = field(&run, "secretsmanager", "hints")[0].as_str().unwrap();
    for words in [
        "The server at 10.0.2.10 answered the TLS ClientHello for secretsmanager.eu-west-3.amazonaws.com with the alert \
         protocol_version",
        "it speaks neither TLS 1.2 nor TLS 1.3, which AWS endpoints speak",
        "a legacy TLS terminator or proxy (TLS 1.0/1.1 only)",
        "Check the TLS policy of proxies and TLS-inspecting firewalls",
        "If 10.0.2.10 is the address AWS gave the endpoint",
    ] {
        assert!(hint.contains(words), "{words}: {hint}");
    }

    let s3 = &field(&run, "s3", "connections")[0]["tls"];
    assert_eq!((s3["outcome"].as_str(), s3["cause"].as_str()), (Some("error"), Some("not_tls")), "{s3}");
    assert_eq!(s3.get("alert"), None, "{s3}");
    let hint = field(&run, "s3", "hints")[0].as_str().unwrap();
    assert!(hint.contains("with something that is not TLS") && hint.contains("HTTP error page"), "{hint}");
    assert_eq!(tls_outcome(&run, "logs"), "ok");
}

/// glibc is linked into the binary (build.rs): `getaddrinfo` — what `netready healthcheck`, the
/// agent's plane URL and the plane's database host use — still asks DNS (the lab's resolver, named
/// by the task's resolv.conf) and reads /etc/hosts (`localhost`), through the `files` and `dns`
/// services a static glibc has built in. The check's own resolver is not involved.
#[test]
fn names_resolve_through_the_c_library_from_dns_and_the_hosts_file() {
    let spec = endpoints(REGION, PRIVATE).tls_mode("10.0.2.14", ListenerTls::Http);
    let Some(mut lab) = lab(spec) else { return };
    // For a name from /etc/hosts: a listener on the task's loopback (a TLS one: not HTTP, but reached).
    let task = lab.task_ns.clone();
    lab.listen_in(&task, "127.0.0.1", 8443).unwrap();
    let healthcheck = |url: &str| {
        let out = lab.task_command(BIN.as_ref()).args(["healthcheck", "--url", url]).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    // A name only the lab's DNS server knows: resolved, connected, and the listener's HTTP answer read.
    let url = format!("http://{}:443/healthz", host("s3", REGION));
    let (code, text) = healthcheck(&url);
    assert_eq!((code, text.trim()), (Some(1), format!("unhealthy: {url} answered 400").as_str()));
    // A name it does not know: the lookup's own error, and the exit code of a wrong URL.
    let (code, text) = healthcheck(&format!("http://nothing-here.{REGION}.amazonaws.com:443/healthz"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("cannot resolve 'nothing-here.eu-west-3.amazonaws.com:443'"), "{text}");
    // A name from /etc/hosts.
    let (code, text) = healthcheck("http://localhost:8443/healthz");
    assert_eq!(code, Some(1), "{text}");
    assert!(!text.contains("cannot resolve"), "{text}");
}

#[test]
fn a_path_mtu_black_hole_is_told_from_server_name_filtering_and_said_once() {
    if let Some(why) = netready_lab::tool_missing("ethtool") {
        if netready_lab::lab_required() {
            panic!("lab test required but {why}");
        }
        netready_lab::record_skip(&why);
        return;
    }
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else { return };
    // Replies longer than 1000 bytes are lost on the way back to the task, with no ICMP.
    lab.drop_large_replies(1000).unwrap();
    let run = check(&lab, &["--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "2s"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for service in ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"] {
        let c = &field(&run, service, "connections")[0];
        assert_eq!(c["tcp"]["outcome"], "ok", "{service}: TCP's packets are small: {c}");
        let tls = &c["tls"];
        assert_eq!(tls["outcome"], "timeout", "{service}: {tls}");
        let retry = &tls["retry"];
        assert_eq!(retry["mss"], 536, "{service}: {retry}");
        assert_eq!(retry["outcome"], "ok", "{service}: the small-segment handshake completed: {retry}");
        assert_eq!(retry["first_mss"], 1448, "{service}: a 1500-byte veth with TCP timestamps: {retry}");
        let after = retry["after_ms"].as_u64().unwrap();
        assert!(halfway(tls), "{service}: halfway through the handshake's budget: {tls}");
        // The first is given up as soon as the retry answers: long before the deadline.
        assert!(tls["duration_ms"].as_u64().unwrap() < after + 300, "{service}: {tls}");
        assert_eq!(field(&run, service, "reachability"), "none", "{service}");
        let hints = field(&run, service, "hints").as_array().unwrap();
        assert_eq!(hints.len(), 1, "{service}: {hints:?}");
        let hint = hints[0].as_str().unwrap();
        let ip = c["ip"].as_str().unwrap();
        for words in [
            format!("TCP to {ip} connects and the TLS ClientHello for {} goes out", host(service, REGION)),
            "never arrives in 1448-byte segments".to_owned(),
            "asking for 536-byte segments (packets of 576 bytes) completed the handshake".to_owned(),
            "a path-MTU black hole, not server-name filtering".to_owned(),
            "allow ICMP type 3 code 4 back to the task".to_owned(),
        ] {
            assert!(hint.contains(&words), "{service}: {words}: {hint}");
        }
    }
    assert!(run.elapsed < Duration::from_millis(1800), "the retry's answer ends the wait: {:?}", run.elapsed);

    // The table says the one cause once, naming the five endpoints; the JSON keeps each one's.
    let out = lab
        .task_command(BIN.as_ref())
        .args(["check", "--region", REGION, "--ecr-registry-id", ACCOUNT, "--timeout", "2s"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let hints = table.split("\nHints:\n").nth(1).unwrap().split("\n\n").next().unwrap();
    assert_eq!(hints.matches("  - ").count(), 1, "{table}");
    assert!(
        hints.starts_with(
            "  - secretsmanager, logs, ecr_api, ecr_dkr, s3: TCP connects and the TLS ClientHellos go out,"
        ),
        "{table}"
    );
    assert_eq!(table.matches("black hole").count(), 1, "{table}");
    assert!(
        unwrapped(&table).contains(
            "logs 10.0.2.11:443: tls timeout: no answer to the TLS ClientHello before the deadline; again with \
             536-byte segments: ok in"
        ),
        "{table}"
    );
}

/// The first name on the lab's endpoint certificate (the names sorted).
fn netready_lab_first_name(lab: &Lab) -> String {
    let mut names: Vec<String> = lab.spec.dns.iter().map(|(n, _)| n.clone()).collect();
    names.extend(lab.spec.cnames.iter().map(|(a, _)| a.clone()));
    for (d, _) in &lab.spec.wildcards {
        names.push(d.clone());
        names.push(format!("*.{d}"));
    }
    names.sort();
    names.dedup();
    names[0].clone()
}

#[test]
fn a_bad_ca_file_is_a_configuration_error() {
    let Some(lab) = lab(endpoints(REGION, PRIVATE)) else { return };
    let out = lab
        .task_command(BIN.as_ref())
        .args(["check", "--region", REGION])
        .env("NETREADY_CA_FILE", "/nonexistent/corp-ca.pem")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NETREADY_CA_FILE") && err.contains("/nonexistent/corp-ca.pem"), "{err}");
}

/// The README's two examples, asserted; with NETREADY_README_EXAMPLES=<file>, written there too.
#[test]
fn readme_examples() {
    let mut addrs = PRIVATE;
    addrs[4] = &["203.0.113.20", "203.0.113.21"];
    let spec = LabSpec { metadata: Some(metadata()), ..endpoints(REGION, addrs) };
    let Some(lab) = lab(spec) else { return };
    let uri = lab.metadata_uri();
    let run = |args: &[&str]| {
        let out = lab
            .task_command(BIN.as_ref())
            .arg("check")
            .args(args)
            .env("ECS_CONTAINER_METADATA_URI_V4", &uri)
            .output()
            .unwrap();
        format!(
            "$ netready check {}\n{}exit {}\n",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            out.status.code().unwrap()
        )
    };
    let healthy = run(&["--public-ip", "false"]);
    assert!(healthy.contains("READY") && healthy.ends_with("exit 0\n"), "{healthy}");
    assert!(healthy.contains("2/2 ok TLSv1.3"), "{healthy}");
    lab.filter_sni(&host("logs", REGION), false).unwrap();
    let degraded = run(&["--public-ip", "false", "--timeout", "2s"]);
    assert!(degraded.contains("DEGRADED") && degraded.ends_with("exit 1\n"), "{degraded}");
    assert!(degraded.contains("0/1 ok; 10.0.2.11 tls timeout"), "{degraded}");
    // Then large replies lost on the way back too: the others' timeouts are a path-MTU black
    // hole, said once for the four; the filtered name stays server-name filtering.
    if let Some(why) = netready_lab::tool_missing("ethtool") {
        assert!(!netready_lab::lab_required(), "lab test required but {why}");
        netready_lab::record_skip(&why);
        return;
    }
    lab.drop_large_replies(1000).unwrap();
    let mtu = run(&["--public-ip", "false", "--timeout", "2s"]);
    let flat = unwrapped(&mtu);
    assert!(
        flat.contains("- secretsmanager, ecr_api, ecr_dkr, s3: TCP connects and the TLS ClientHellos go out"),
        "{mtu}"
    );
    assert!(flat.contains("- logs: TCP to 10.0.2.11 connects but the TLS ClientHello for"), "{mtu}");
    assert!(flat.contains("also on a second connection with 536-byte segments"), "{mtu}");
    if let Ok(path) = std::env::var("NETREADY_README_EXAMPLES") {
        std::fs::write(path, format!("{healthy}\n---\n{degraded}\n---\n{mtu}")).unwrap();
    }
}

/// Task metadata for the lab's task, dual-stack when `ipv6`.
fn metadata_docs(ipv6: bool) -> (String, String) {
    let mut network = serde_json::json!({"IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24"});
    if ipv6 {
        network["IPv6Addresses"] = serde_json::json!([netready_lab::TASK_IPV6]);
        network["IPv6SubnetCIDRBlock"] = serde_json::json!(netready_lab::TASK_SUBNET_IPV6);
    }
    let task = serde_json::json!({
        "TaskARN": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/0123456789abcdef"),
        "Cluster": "default",
        "AvailabilityZone": "eu-west-3a",
        "Containers": [{"Networks": [network.clone()]}],
    });
    (task.to_string(), serde_json::json!({"Networks": [network]}).to_string())
}

#[test]
fn task_metadata_read_beside_the_probes_decides_whether_aaaa_answers_are_dialled() {
    // With --region and --ecr-registry-id the endpoints are known at once: the probes start before
    // task metadata answers, and the metadata still says whether the task has IPv6.
    let v6 = "2600:1f18:4a3:6902::10";
    let spec = LabSpec { task_ipv6: true, metadata: Some(metadata_docs(true)), ..endpoints(REGION, PRIVATE) }
        .endpoint(&host("secretsmanager", REGION), &[v6]);
    let Some(mut lab) = lab(spec) else { return };
    let uri = lab.metadata_uri();
    let args = ["--region", REGION, "--ecr-registry-id", ACCOUNT, "--vpc-cidr", VPC_IPV6];
    let run = check(&lab, &args, &[("ECS_CONTAINER_METADATA_URI_V4", &uri)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.report["probe"]["ipv6"], true, "the metadata's IPv6 address says the task has IPv6");
    assert_eq!(run.report["task"]["private_ipv6"], netready_lab::TASK_IPV6);
    let ips: Vec<&str> = field(&run, "secretsmanager", "connections")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ip"].as_str().unwrap())
        .collect();
    assert!(ips.contains(&v6) && ips.contains(&"10.0.2.10"), "both families dialled: {ips:?}");
    assert_eq!(field(&run, "secretsmanager", "reachability"), "full");

    // The same task without IPv6 in its metadata: the AAAA answer is reported, not dialled.
    let (task, container) = metadata_docs(false);
    lab.set_metadata(task, container).unwrap();
    let run = check(&lab, &args, &[("ECS_CONTAINER_METADATA_URI_V4", &uri)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.report["probe"]["ipv6"], false);
    assert_eq!(field(&run, "secretsmanager", "connections").as_array().unwrap().len(), 1);
    let undialled = &field(&run, "secretsmanager", "dns.addresses")[1];
    assert_eq!((undialled["ip"].as_str(), undialled["not_dialled"].as_str()), (Some(v6), Some("task_has_no_ipv6")));
}
